namespace Tern.Chat;

/// <summary>Expression grammar, one method per precedence level, as in Jinja2's parser.</summary>
internal sealed partial class Parser
{
    private Expr ParseExpression(bool withCondexpr = true) => withCondexpr ? ParseCondexpr() : ParseOr();

    private Expr ParseCondexpr()
    {
        Enter();
        try
        {
            int line = Current.Line;
            int firstError = _compileErrors.Count;
            var expr = ParseOr();
            while (SkipName("if"))
            {
                var test = ParseOr();
                Expr? otherwise = SkipName("else") ? ParseCondexpr() : null;
                expr = new CondExpr(test, expr, otherwise, line);
                line = Current.Line;
                // a conditional expression is a soft frame for everything in it, its first operand included
                for (int i = firstError; i < _compileErrors.Count; i++)
                    _compileErrors[i] = (_compileErrors[i].Error, true);
            }
            return expr;
        }
        finally
        {
            Exit();
        }
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            int line = Next().Line;
            left = new BinaryExpr("or", left, ParseAnd(), line);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            int line = Next().Line;
            left = new BinaryExpr("and", left, ParseNot(), line);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (!Current.IsName("not"))
            return ParseCompare();
        Enter();
        try
        {
            int line = Next().Line;
            return new UnaryExpr("not", ParseNot(), line);
        }
        finally
        {
            Exit();
        }
    }

    private Expr ParseCompare()
    {
        int line = Current.Line;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && CompareOperators.Contains(Current.Text))
                rest.Add((Next().Text, ParseMath1()));
            else if (SkipName("in"))
                rest.Add(("in", ParseMath1()));
            else if (Current.IsName("not") && Look.IsName("in"))
            {
                Next();
                Next();
                rest.Add(("notin", ParseMath1()));
            }
            else
                break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest, line);
    }

    private Expr ParseMath1() => ParseBinary(ParseConcat, "+", "-");

    private Expr ParseConcat() => ParseBinary(ParseMath2, "~");

    private Expr ParseMath2() => ParseBinary(ParsePow, "*", "/", "//", "%");

    private Expr ParsePow() => ParseBinary(() => ParseUnary(), "**");

    private Expr ParseBinary(Func<Expr> operand, params string[] ops)
    {
        var left = operand();
        while (Current.Kind == TokenKind.Operator && ops.Contains(Current.Text))
        {
            var op = Next();
            left = new BinaryExpr(op.Text, left, operand(), op.Line);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter = true)
    {
        Enter();
        try
        {
            Expr node;
            if (Current.IsOperator("-") || Current.IsOperator("+"))
            {
                var op = Next();
                node = new UnaryExpr(op.Text, ParseUnary(withFilter: false), op.Line);
            }
            else
            {
                node = ParsePrimary();
            }
            node = ParsePostfix(node);
            return withFilter ? ParseFilterExpr(node) : node;
        }
        finally
        {
            Exit();
        }
    }

    private Expr ParsePrimary(bool withNamespace = false)
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.Name:
                Next();
                switch (token.Text)
                {
                    case "true" or "True": return new ConstExpr(BoolValue.True, token.Line);
                    case "false" or "False": return new ConstExpr(BoolValue.False, token.Line);
                    case "none" or "None": return new ConstExpr(NoneValue.Instance, token.Line);
                }
                if (withNamespace && Current.IsOperator("."))
                {
                    Next();
                    return new NsRefExpr(token.Text, ExpectName().Text, token.Line);
                }
                NoteName(token.Text);
                return new NameExpr(token.Text, token.Line);
            case TokenKind.String:
                Next();
                string text = ((StringValue)token.Literal!).Value;
                while (Current.Kind == TokenKind.String)
                    text += ((StringValue)Next().Literal!).Value;
                return new ConstExpr(StringValue.Of(text), token.Line);
            case TokenKind.Integer or TokenKind.Float:
                Next();
                return new ConstExpr(token.Literal!, token.Line);
            case TokenKind.Operator when token.Text == "(":
                Next();
                var inner = ParseTuple(explicitParentheses: true);
                ExpectOperator(")");
                return inner;
            case TokenKind.Operator when token.Text == "[":
                return ParseList();
            case TokenKind.Operator when token.Text == "{":
                return ParseDict();
            default:
                throw Fail($"unexpected {Describe(token)}", token.Line);
        }
    }

    private Expr ParseTuple(bool simplified = false, bool withCondexpr = true, string[]? extraEndRules = null,
        bool explicitParentheses = false, bool withNamespace = false)
    {
        int line = Current.Line;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0)
                ExpectOperator(",");
            if (IsTupleEnd(extraEndRules))
                break;
            items.Add(simplified ? ParsePrimary(withNamespace) : ParseExpression(withCondexpr));
            if (Current.IsOperator(","))
                isTuple = true;
            else
                break;
            line = Current.Line;
        }
        if (!isTuple)
        {
            if (items.Count > 0)
                return items[0];
            if (!explicitParentheses)
                throw Fail($"Expected an expression, got {Describe(Current)}", Current.Line);
        }
        return new ListExpr(items, IsTuple: true, line);
    }

    private bool IsTupleEnd(string[]? extraEndRules) =>
        Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd
        || Current.IsOperator(")")
        || (extraEndRules is not null && extraEndRules.Any(Current.IsName));

    private ListExpr ParseList()
    {
        int line = ExpectOperator("[").Line;
        var items = new List<Expr>();
        while (!Current.IsOperator("]"))
        {
            if (items.Count > 0)
                ExpectOperator(",");
            if (Current.IsOperator("]"))
                break;
            items.Add(ParseExpression());
        }
        ExpectOperator("]");
        return new ListExpr(items, IsTuple: false, line);
    }

    private DictExpr ParseDict()
    {
        int line = ExpectOperator("{").Line;
        var items = new List<(Expr, Expr)>();
        while (!Current.IsOperator("}"))
        {
            if (items.Count > 0)
                ExpectOperator(",");
            if (Current.IsOperator("}"))
                break;
            var key = ParseExpression();
            ExpectOperator(":");
            items.Add((key, ParseExpression()));
        }
        ExpectOperator("}");
        return new DictExpr(items, line);
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Current.IsOperator(".") || Current.IsOperator("["))
                node = ParseSubscript(node);
            else if (Current.IsOperator("("))
                node = new CallExpr(node, ParseCallArgs(), node.Line);
            else
                return node;
        }
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
                node = ParseFilter(node)!;
            else if (Current.IsName("is"))
                node = ParseTest(node);
            else if (Current.IsOperator("("))
                node = new CallExpr(node, ParseCallArgs(), node.Line);
            else
                return node;
        }
    }

    private Expr ParseSubscript(Expr node)
    {
        var token = Next();
        if (token.IsOperator("."))
        {
            var attr = Next();
            if (attr.Kind == TokenKind.Name)
                return new GetAttrExpr(node, attr.Text, token.Line);
            if (attr.Kind != TokenKind.Integer)
                throw Fail("expected name or number", attr.Line);
            return new GetItemExpr(node, new ConstExpr(attr.Literal!, attr.Line), token.Line);
        }
        var args = new List<Expr>();
        while (!Current.IsOperator("]"))
        {
            if (args.Count > 0)
                ExpectOperator(",");
            args.Add(ParseSubscribed());
        }
        ExpectOperator("]");
        return new GetItemExpr(node, args.Count == 1 ? args[0] : new ListExpr(args, IsTuple: true, token.Line), token.Line);
    }

    private Expr ParseSubscribed()
    {
        int line = Current.Line;
        Expr? start = null;
        if (!SkipOperator(":"))
        {
            var node = ParseExpression();
            if (!SkipOperator(":"))
                return node;
            start = node;
        }
        Expr? stop = null, step = null;
        if (!Current.IsOperator(":") && !Current.IsOperator("]") && !Current.IsOperator(","))
            stop = ParseExpression();
        if (SkipOperator(":") && !Current.IsOperator("]") && !Current.IsOperator(","))
            step = ParseExpression();
        return new SliceExpr(start, stop, step, line);
    }

    private CallSyntax ParseCallArgs()
    {
        var open = ExpectOperator("(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        Expr? dynArgs = null, dynKwargs = null;
        bool requireComma = false;
        while (!Current.IsOperator(")"))
        {
            if (requireComma)
            {
                ExpectOperator(",");
                if (Current.IsOperator(")"))
                    break;
            }
            if (Current.IsOperator("*"))
            {
                Ensure(dynArgs is null && dynKwargs is null, open);
                Next();
                dynArgs = ParseExpression();
            }
            else if (Current.IsOperator("**"))
            {
                Ensure(dynKwargs is null, open);
                Next();
                dynKwargs = ParseExpression();
            }
            else if (Current.Kind == TokenKind.Name && Look.IsOperator("="))
            {
                Ensure(dynKwargs is null, open);
                string key = Next().Text;
                Next();
                named.Add((key, ParseExpression()));
            }
            else
            {
                Ensure(dynArgs is null && dynKwargs is null && named.Count == 0, open);
                positional.Add(ParseExpression());
            }
            requireComma = true;
        }
        ExpectOperator(")");
        return new CallSyntax(positional, named, dynArgs, dynKwargs);
    }

    private void Ensure(bool ok, Token open)
    {
        if (!ok)
            throw Fail("invalid syntax for function call expression", open.Line);
    }

    private Expr? ParseFilter(Expr? node, bool startInline = false)
    {
        while (Current.IsOperator("|") || startInline)
        {
            if (!startInline)
                Next();
            var token = ExpectName();
            string name = token.Text;
            while (Current.IsOperator("."))
            {
                Next();
                name += "." + ExpectName().Text;
            }
            var args = Current.IsOperator("(") ? ParseCallArgs() : CallSyntax.Empty;
            NoteUnknownFilterOrTest(filter: true, name, token.Line);
            node = new FilterExpr(node, name, args, token.Line);
            startInline = false;
        }
        return node;
    }

    private Expr ParseTest(Expr node)
    {
        var token = Next(); // 'is'
        bool negated = SkipName("not");
        string name = ExpectName().Text;
        while (Current.IsOperator("."))
        {
            Next();
            name += "." + ExpectName().Text;
        }
        CallSyntax args;
        if (Current.IsOperator("("))
        {
            args = ParseCallArgs();
        }
        else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                  || Current.IsOperator("[") || Current.IsOperator("{"))
                 && !Current.IsName("else") && !Current.IsName("or") && !Current.IsName("and"))
        {
            if (Current.IsName("is"))
                throw Fail("You cannot chain multiple tests with is", Current.Line);
            args = new CallSyntax([ParsePostfix(ParsePrimary())], [], null, null);
        }
        else
        {
            args = CallSyntax.Empty;
        }
        NoteUnknownFilterOrTest(filter: false, name, token.Line);
        Expr test = new TestExpr(node, name, args, token.Line);
        return negated ? new UnaryExpr("not", test, token.Line) : test;
    }
}
