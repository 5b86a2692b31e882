namespace Tern.Chat;

internal sealed partial class Renderer
{
    public Value Eval(Expr expr, Scope scope)
    {
        Step();
        Enter();
        try
        {
            return Evaluate(expr, scope);
        }
        finally
        {
            Leave();
        }
    }

    private Value Evaluate(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case ConstExpr c:
                return c.Value;
            case NameExpr n:
                return scope.TryGet(n.Name, out var value) ? value : UndefinedValue.Named(n.Name);
            case ListExpr list:
                return new ListValue(list.Items.ConvertAll(item => Eval(item, scope)), list.IsTuple);
            case DictExpr dict:
                var result = new DictValue(Keys);
                foreach (var (key, item) in dict.Items)
                    result.Items[Eval(key, scope)] = Eval(item, scope);
                return result;
            case GetAttrExpr attr:
                return Access.GetAttr(this, Eval(attr.Target, scope), attr.Name);
            case GetItemExpr { Index: SliceExpr slice } item:
                return Access.Slice(this, Eval(item.Target, scope), EvalOptional(slice.Start, scope), EvalOptional(slice.Stop, scope),
                    EvalOptional(slice.Step, scope));
            case GetItemExpr item:
                return Access.GetItem(this, Eval(item.Target, scope), Eval(item.Index, scope));
            case CallExpr call:
                return EvalCall(call, scope, caller: null);
            case FilterExpr filter:
                return EvalFilter(filter, scope, blockInput: null);
            case TestExpr test:
                return Value.Bool(TemplateTests.Apply(this, test.Name, Eval(test.Input, scope), EvalArgs(test.Args, scope), inTemplate: true));
            case UnaryExpr { Op: "not" } not:
                return Value.Bool(!Eval(not.Operand, scope).IsTruthy);
            case UnaryExpr unary:
                return Operators.Unary(unary.Op, Eval(unary.Operand, scope));
            case BinaryExpr { Op: "and" } and:
                var left = Eval(and.Left, scope);
                return left.IsTruthy ? Eval(and.Right, scope) : left;
            case BinaryExpr { Op: "or" } or:
                var first = Eval(or.Left, scope);
                return first.IsTruthy ? first : Eval(or.Right, scope);
            case BinaryExpr binary:
                return Operators.Binary(this, binary.Op, Eval(binary.Left, scope), Eval(binary.Right, scope));
            case CompareExpr compare:
                var current = Eval(compare.First, scope);
                foreach (var (op, operand) in compare.Rest)
                {
                    var next = Eval(operand, scope);
                    if (!Operators.Compare(this, op, current, next))
                        return BoolValue.False;
                    current = next;
                }
                return BoolValue.True;
            case CondExpr cond:
                if (Eval(cond.Test, scope).IsTruthy)
                    return Eval(cond.Then, scope);
                return cond.Else is null
                    ? UndefinedValue.Hint($"the inline if-expression on line {cond.Line} evaluated to false and no else section was defined.")
                    : Eval(cond.Else, scope);
            case NsRefExpr nsRef:
                return scope.TryGet(nsRef.Name, out var ns) ? Access.GetAttr(this, ns, nsRef.Attr) : UndefinedValue.Named(nsRef.Name);
            default:
                throw new TemplateException($"unsupported expression {expr.GetType().Name}");
        }
    }

    private Value EvalOptional(Expr? expr, Scope scope) => expr is null ? NoneValue.Instance : Eval(expr, scope);

    private Value EvalCall(CallExpr call, Scope scope, MacroValue? caller)
    {
        var callee = Eval(call.Callee, scope);
        var args = EvalArgs(call.Args, scope);
        if (caller is not null)
            args.Named["caller"] = caller;
        return callee switch
        {
            CallableValue callable => callable.Call(this, args),
            UndefinedValue undefined => throw new TemplateException(undefined.Message),
            _ => throw new TemplateException($"'{callee.TypeName}' object is not callable"),
        };
    }

    private Value EvalFilter(FilterExpr filter, Scope scope, Value? blockInput)
    {
        var input = filter.Input switch
        {
            null => blockInput ?? UndefinedValue.Hint("filter without input"),
            FilterExpr inner when blockInput is not null => EvalFilter(inner, scope, blockInput),
            _ => Eval(filter.Input, scope),
        };
        return Filters.Apply(this, filter.Name, input, EvalArgs(filter.Args, scope), inTemplate: true);
    }

    private CallArgs EvalArgs(CallSyntax syntax, Scope scope)
    {
        if (ReferenceEquals(syntax, CallSyntax.Empty))
            return new CallArgs();
        var args = new CallArgs();
        foreach (var arg in syntax.Positional)
            args.Positional.Add(Eval(arg, scope));
        foreach (var (name, arg) in syntax.Named)
            args.Named[name] = Eval(arg, scope);
        if (syntax.DynArgs is not null)
            args.Positional.AddRange(Iteration.Materialize(this, Eval(syntax.DynArgs, scope)));
        if (syntax.DynKwargs is not null)
        {
            if (Eval(syntax.DynKwargs, scope) is not DictValue kwargs)
                throw new TemplateException("argument after ** must be a mapping");
            foreach (var (key, value) in kwargs.Items)
                args.Named[key is StringValue s ? s.Value : throw new TemplateException("keywords must be strings")] = value;
        }
        return args;
    }
}
