namespace Tern.Chat;

/// <summary>
/// Builds the syntax tree from tokens with Jinja2's grammar and precedence: conditional expressions, or, and, not,
/// comparisons (chained, in, not in), + -, ~, * / // %, ** (left-associative, as in Jinja2), unary minus, then
/// postfix access, calls, filters and tests. Statements: if, for, set, macro, call, filter, with, break, continue,
/// print and Hugging Face's generation block.
/// </summary>
internal sealed partial class Parser
{
    private const int MaxNesting = 200;
    private static readonly HashSet<string> CompareOperators = ["==", "!=", "<", "<=", ">", ">="];

    private readonly List<Token> _tokens;
    private readonly List<string[]> _endTokenStack = [];
    private readonly List<string> _tagStack = [];
    private readonly List<MacroSignature> _openMacros = [];
    private int _i;
    private int _depth;
    private int _loopDepth; // for-loop bodies around the current position (macro bodies start at 0)
    // Errors Jinja2 finds when compiling, after the whole template parsed: an unknown filter or test, then a
    // misplaced break/continue. Unknown names are tolerated in "soft" frames (if blocks and conditional
    // expressions), where Jinja2 raises only if the code runs; Soft marks those entries.
    private readonly List<(TemplateException Error, bool Soft)> _compileErrors = [];
    private bool _softFrame;
    private TemplateException? _misplacedLoopControl; // reported after unknown names, as Python compiles Jinja2's output last

    private Parser(List<Token> tokens)
    {
        _tokens = tokens;
        if (tokens[0].Kind == TokenKind.Error)
            throw Fail(tokens[0].Text, tokens[0].Line);
    }

    public static List<Stmt> Parse(string source)
    {
        var parser = new Parser(Lexer.Tokenize(source));
        var body = parser.Subparse(null);
        var error = parser._compileErrors.FirstOrDefault(e => !e.Soft).Error ?? parser._misplacedLoopControl;
        return error is null ? body : throw error;
    }

    private Token Current => _tokens[_i];

    private Token Look => _tokens[Math.Min(_i + 1, _tokens.Count - 1)];

    private Token Next()
    {
        var token = _tokens[_i];
        if (_i < _tokens.Count - 1)
            _i++;
        if (_tokens[_i].Kind == TokenKind.Error)
            throw Fail(_tokens[_i].Text, _tokens[_i].Line);
        return token;
    }

    private List<Stmt> Subparse(string[]? endTokens)
    {
        var body = new List<Stmt>();
        if (endTokens is not null)
            _endTokenStack.Add(endTokens);
        try
        {
            while (Current.Kind != TokenKind.Eof)
            {
                var token = Current;
                switch (token.Kind)
                {
                    case TokenKind.Data:
                        body.Add(new TextStmt(token.Text, token.Line));
                        Next();
                        break;
                    case TokenKind.VariableBegin:
                        Next();
                        body.Add(new PrintStmt(ParseTuple(), token.Line));
                        Expect(TokenKind.VariableEnd);
                        break;
                    case TokenKind.BlockBegin:
                        Next();
                        if (endTokens is not null && endTokens.Any(Current.IsName))
                            return body;
                        body.AddRange(ParseStatement());
                        Expect(TokenKind.BlockEnd);
                        break;
                    default:
                        throw Fail($"unexpected {Describe(token)}", token.Line);
                }
            }
            return body;
        }
        finally
        {
            if (endTokens is not null)
                _endTokenStack.RemoveAt(_endTokenStack.Count - 1);
        }
    }

    private List<Stmt> ParseStatement()
    {
        var token = Current;
        if (token.Kind != TokenKind.Name)
            throw Fail("tag name expected", token.Line);
        Enter();
        _tagStack.Add(token.Text);
        bool popTag = true;
        try
        {
            switch (token.Text)
            {
                case "for": return [ParseFor()];
                case "if": return [ParseIf()];
                case "set": return [ParseSet()];
                case "macro": return [ParseMacro()];
                case "call": return [ParseCallBlock()];
                case "filter": return [ParseFilterBlock()];
                case "with": return [ParseWith()];
                case "print":
                    Next();
                    return [new PrintStmt(ParseTuple(), token.Line)];
                case "break" or "continue":
                    Next();
                    if (_loopDepth == 0)
                        _misplacedLoopControl ??= Fail($"'{token.Text}' outside loop", token.Line);
                    return [token.Text == "break" ? new BreakStmt(token.Line) : new ContinueStmt(token.Line)];
                case "generation":
                    // Hugging Face's AssistantTracker block: renders its body unchanged.
                    Next();
                    return ParseStatements(["endgeneration"], dropNeedle: true);
                case "autoescape":
                    Next();
                    ParseExpression();
                    return ParseStatements(["endautoescape"], dropNeedle: true);
                case "include" or "import" or "from" or "extends" or "block":
                    throw Fail($"'{token.Text}' is not supported in chat templates", token.Line);
                default:
                    _tagStack.RemoveAt(_tagStack.Count - 1);
                    popTag = false;
                    throw FailUnknownTag(token.Text, token.Line);
            }
        }
        finally
        {
            if (popTag)
                _tagStack.RemoveAt(_tagStack.Count - 1);
            Exit();
        }
    }

    private List<Stmt> ParseStatements(string[] endTokens, bool dropNeedle = false)
    {
        SkipOperator(":");
        Expect(TokenKind.BlockEnd);
        var result = Subparse(endTokens);
        if (Current.Kind == TokenKind.Eof)
            throw FailEof(endTokens);
        if (dropNeedle)
            Next();
        return result;
    }

    private ForStmt ParseFor()
    {
        int line = Next().Line;
        var target = ParseAssignTarget(extraEndRules: ["in"]);
        ExpectName("in");
        var iterable = ParseTuple(withCondexpr: false, extraEndRules: ["recursive"]);
        Expr? filter = SkipName("if") ? InFrame(soft: false, () => ParseExpression()) : null;
        bool recursive = SkipName("recursive");
        _loopDepth++;
        List<Stmt> body;
        try
        {
            body = InFrame(soft: false, () => ParseStatements(["endfor", "else"]));
        }
        finally
        {
            _loopDepth--;
        }
        List<Stmt> elseBody = Next().Text == "endfor" ? [] : InFrame(soft: false, () => ParseStatements(["endfor"], dropNeedle: true));
        return new ForStmt(target, iterable, filter, body, elseBody, recursive, line);
    }

    /// <summary>Parses in a soft frame (if blocks) or a hard one (loop, macro and block bodies), as Jinja2's compiler frames them.</summary>
    private T InFrame<T>(bool soft, Func<T> parse)
    {
        bool outer = _softFrame;
        _softFrame = soft;
        try
        {
            return parse();
        }
        finally
        {
            _softFrame = outer;
        }
    }

    private IfStmt ParseIf() => InFrame(soft: true, () =>
    {
        int line = Next().Line;
        var branches = new List<(Expr, List<Stmt>)>();
        List<Stmt> elseBody = [];
        while (true)
        {
            var test = ParseTuple(withCondexpr: false);
            branches.Add((test, ParseStatements(["elif", "else", "endif"])));
            var token = Next();
            if (token.IsName("elif"))
                continue;
            if (token.IsName("else"))
                elseBody = ParseStatements(["endif"], dropNeedle: true);
            break;
        }
        return new IfStmt(branches, elseBody, line);
    });

    private Stmt ParseSet()
    {
        int line = Next().Line;
        var target = ParseAssignTarget(withNamespace: true);
        if (SkipOperator("="))
            return new SetStmt(target, ParseTuple(), line);
        return InFrame(soft: false, () =>
        {
            var filter = ParseFilter(null);
            var body = ParseStatements(["endset"], dropNeedle: true);
            return new SetBlockStmt(target, filter as FilterExpr, body, line);
        });
    }

    private MacroStmt ParseMacro()
    {
        int line = Next().Line;
        string name = ExpectName().Text;
        var signature = InFrame(soft: false, ParseSignature);
        var body = ParseMacroBody(signature, "endmacro");
        return new MacroStmt(name, signature, body, line);
    }

    /// <summary>Parses a macro or call-block body, noting which of caller, kwargs and varargs it mentions.</summary>
    private List<Stmt> ParseMacroBody(MacroSignature signature, string endTag)
    {
        _openMacros.Add(signature);
        int loopDepth = _loopDepth;
        _loopDepth = 0;
        try
        {
            return InFrame(soft: false, () => ParseStatements([endTag], dropNeedle: true));
        }
        finally
        {
            _openMacros.RemoveAt(_openMacros.Count - 1);
            _loopDepth = loopDepth;
        }
    }

    private void NoteUnknownFilterOrTest(bool filter, string name, int line)
    {
        if (!(filter ? Filters.Exists(name) : TemplateTests.Exists(name)))
            _compileErrors.Add((Fail($"No {(filter ? "filter" : "test")} named '{name}'.", line), _softFrame));
    }

    private void NoteName(string name)
    {
        foreach (var macro in _openMacros)
        {
            macro.UsesCaller |= name == "caller";
            macro.CatchKwargs |= name == "kwargs";
            macro.CatchVarargs |= name == "varargs";
        }
    }

    private MacroSignature ParseSignature()
    {
        var parameters = new List<string>();
        var defaults = new List<Expr>();
        ExpectOperator("(");
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0)
                ExpectOperator(",");
            var name = ExpectName();
            if (SkipOperator("="))
                defaults.Add(ParseExpression());
            else if (defaults.Count > 0)
                throw Fail("non-default argument follows default argument", name.Line);
            parameters.Add(name.Text);
        }
        ExpectOperator(")");
        return new MacroSignature(parameters, defaults);
    }

    private CallBlockStmt ParseCallBlock()
    {
        int line = Next().Line;
        var signature = Current.IsOperator("(") ? InFrame(soft: false, ParseSignature) : new MacroSignature([], []);
        if (ParseExpression() is not CallExpr call)
            throw Fail("expected call", line);
        var body = ParseMacroBody(signature, "endcall");
        return new CallBlockStmt(call, signature, body, line);
    }

    private FilterBlockStmt ParseFilterBlock()
    {
        int line = Next().Line;
        return InFrame(soft: false, () =>
        {
            var filter = (FilterExpr)ParseFilter(null, startInline: true)!;
            var body = ParseStatements(["endfilter"], dropNeedle: true);
            return new FilterBlockStmt(filter, body, line);
        });
    }

    private WithStmt ParseWith()
    {
        int line = Next().Line;
        var assignments = new List<(Expr, Expr)>();
        while (Current.Kind != TokenKind.BlockEnd && Current.Kind != TokenKind.Eof)
        {
            if (assignments.Count > 0)
                ExpectOperator(",");
            var target = ParseAssignTarget();
            ExpectOperator("=");
            assignments.Add((target, ParseExpression()));
        }
        var body = InFrame(soft: false, () => ParseStatements(["endwith"], dropNeedle: true));
        return new WithStmt(assignments, body, line);
    }

    private Expr ParseAssignTarget(string[]? extraEndRules = null, bool withNamespace = false)
    {
        var target = ParseTuple(simplified: true, extraEndRules: extraEndRules, withNamespace: withNamespace);
        if (!CanAssign(target))
            throw Fail($"can't assign to {Describe(target)}", target.Line);
        return target;
    }

    private static bool CanAssign(Expr e) => e switch
    {
        NameExpr n => n.Name is not ("true" or "false" or "none" or "True" or "False" or "None"),
        NsRefExpr => true,
        ListExpr { IsTuple: true } t => t.Items.All(CanAssign),
        _ => false,
    };

    // ---- token helpers and errors ----

    private Token Expect(TokenKind kind)
    {
        if (Current.Kind == kind)
            return Next();
        if (Current.Kind == TokenKind.Eof)
            throw Fail($"unexpected end of template, expected '{new Token(kind, "", 0).Describe()}'.", Current.Line);
        throw Fail($"expected token '{new Token(kind, "", 0).Describe()}', got {Describe(Current)}", Current.Line);
    }

    private Token ExpectOperator(string op)
    {
        if (Current.IsOperator(op))
            return Next();
        if (Current.Kind == TokenKind.Eof)
            throw Fail($"unexpected end of template, expected '{op}'.", Current.Line);
        throw Fail($"expected token '{op}', got {Describe(Current)}", Current.Line);
    }

    private Token ExpectName(string? name = null)
    {
        if (Current.Kind == TokenKind.Name && (name is null || Current.Text == name))
            return Next();
        if (Current.Kind == TokenKind.Eof)
            throw Fail($"unexpected end of template, expected '{name ?? "name"}'.", Current.Line);
        throw Fail($"expected token '{name ?? "name"}', got {Describe(Current)}", Current.Line);
    }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name))
            return false;
        Next();
        return true;
    }

    private bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op))
            return false;
        Next();
        return true;
    }

    private void Enter()
    {
        if (++_depth > MaxNesting)
            throw Fail($"template nesting deeper than {MaxNesting} levels", Current.Line);
    }

    private void Exit() => _depth--;

    private static string Describe(Token token) => $"'{token.Describe()}'";

    private static string Describe(Expr e) => e switch
    {
        ConstExpr => "'const'",
        ListExpr { IsTuple: true } => "'tuple'",
        ListExpr => "'list'",
        _ => $"'{e.GetType().Name.Replace("Expr", "", StringComparison.Ordinal).ToLowerInvariant()}'",
    };

    private TemplateException FailUnknownTag(string name, int line) => FailUnexpected(name, _endTokenStack, line);

    private TemplateException FailEof(string[] endTokens) => FailUnexpected(null, [.. _endTokenStack, endTokens], Current.Line);

    private TemplateException FailUnexpected(string? name, List<string[]> stack, int line)
    {
        var message = new List<string> { name is null ? "Unexpected end of template." : $"Encountered unknown tag '{name}'." };
        if (stack.Count > 0)
        {
            string looking = string.Join(" or ", stack[^1].Select(t => $"'{t}'"));
            message.Add(name is not null && stack.Any(s => s.Contains(name))
                ? $"You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for {looking}."
                : $"Jinja was looking for the following tags: {looking}.");
        }
        if (_tagStack.Count > 0)
            message.Add($"The innermost block that needs to be closed is '{_tagStack[^1]}'.");
        return Fail(string.Join(" ", message), line);
    }

    private static TemplateException Fail(string reason, int line) => new(reason, line, TemplateErrorKind.Syntax);
}
