using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Tern.Chat;

/// <summary>
/// Runs a parsed template once. Holds the per-render budget (steps, output characters, built strings, call depth,
/// time) so that every statement, expression, loop iteration and the work inside every operation is charged
/// against the limits, and the render stops when its caller cancels.
/// </summary>
internal sealed partial class Renderer
{
    /// <summary>Characters an operation may read or build for one step (copying 64 characters costs about one step).</summary>
    private const long CharsPerStep = 64;

    /// <summary>The clock and the cancellation are looked at each time the step count passes a multiple of this.</summary>
    private const int ClockInterval = 256;

    /// <summary>All strings built during a render together may reach this many times the output limit.</summary>
    private const long BuiltStringsFactor = 8;

    /// <summary>A list item (a reference) weighs as much as this many characters in the built-strings allowance.</summary>
    private const long CharsPerItem = 4;

    private readonly TemplateLimits _limits;
    private readonly CancellationToken _cancellation;
    private readonly long _started;
    private long _steps;
    private long _outputChars;
    private long _builtChars;
    private int _callDepth;
    private int _depth;

    public Renderer(TemplateLimits limits, TimeProvider clock, CancellationToken cancellation)
    {
        _limits = limits;
        _cancellation = cancellation;
        Clock = clock;
        Keys = new ValueKeyComparer(this);
        _started = Stopwatch.GetTimestamp();
    }

    /// <summary>The clock of <c>strftime_now</c> (the time limit runs on the real clock).</summary>
    public TimeProvider Clock { get; }

    /// <summary>Python's dict-key equality and hashing, charged to this render.</summary>
    public ValueKeyComparer Keys { get; }

    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    public string Render(List<Stmt> body, Scope scope)
    {
        var output = new StringBuilder();
        Exec(body, scope, output);
        return output.ToString();
    }

    /// <summary>Charges one step of work.</summary>
    public void Step() => Charge(1);

    /// <summary>Charges <paramref name="work"/> steps (items touched by an operation); fails past the limits.</summary>
    public void Charge(long work)
    {
        if (work > _limits.MaxSteps - _steps)
            throw new TemplateException($"template exceeded its limit of {_limits.MaxSteps} evaluation steps");
        long before = _steps;
        _steps += work;
        if (before / ClockInterval != _steps / ClockInterval)
            CheckClock();
    }

    private void CheckClock()
    {
        _cancellation.ThrowIfCancellationRequested();
        if (Stopwatch.GetElapsedTime(_started) > _limits.MaxDuration)
            throw new TemplateException($"template exceeded its time limit of {_limits.MaxDuration.TotalSeconds:0.###} s");
    }

    /// <summary>Charges reading (or comparing, hashing, copying) <paramref name="chars"/> characters.</summary>
    public void Scan(long chars) => Charge(chars / CharsPerStep);

    /// <summary>Charges searching a text of <paramref name="length"/> characters for one of <paramref name="needle"/> (worst case their product).</summary>
    public void Search(long length, long needle) => Charge((length / CharsPerStep + 1) * (needle / CharsPerStep + 1));

    /// <summary>Charges a string of <paramref name="length"/> characters built by an operator, filter or method.</summary>
    public void Produced(long length)
    {
        // one string may not exceed the output limit; all strings built together may not exceed a few times it
        CheckLength(length);
        Built(length);
        Scan(length);
    }

    /// <summary>Charges <paramref name="count"/> list items built by an operator, filter or method (a list item weighs as much as four characters).</summary>
    public void Allocated(long count)
    {
        CheckItems(count);
        Built(count * CharsPerItem);
        Charge(count);
    }

    /// <summary>Fails when a list of <paramref name="count"/> items would be longer than the limits allow.</summary>
    public void CheckItems(long count)
    {
        if (count * CharsPerItem > _limits.MaxOutputChars)
            throw new TemplateException($"template built lists beyond its limit of {_limits.MaxOutputChars / CharsPerItem} items");
    }

    private void Built(long chars)
    {
        _builtChars += chars;
        if (_builtChars > BuiltStringsFactor * _limits.MaxOutputChars)
            throw new TemplateException(
                $"template built strings beyond its limit of {BuiltStringsFactor * _limits.MaxOutputChars} characters in all (list items count {CharsPerItem})");
    }

    public long MaxStringLength => _limits.MaxOutputChars;

    /// <summary>Fails when a string being built grows past the output limit.</summary>
    public void CheckLength(long length)
    {
        if (length > _limits.MaxOutputChars)
            throw new TemplateException($"template built strings beyond its limit of {_limits.MaxOutputChars} characters");
    }

    private void Write(StringBuilder output, string text)
    {
        Scan(text.Length);
        _outputChars += text.Length;
        if (_outputChars > _limits.MaxOutputChars)
            throw new TemplateException($"template output exceeded its limit of {_limits.MaxOutputChars} characters");
        output.Append(text);
    }

    /// <summary>
    /// Enters one level of evaluation. Probing the real stack costs ~15 ns, so it is done only once nesting is deep
    /// enough to matter; every caller pairs this with <see cref="Leave"/>.
    /// </summary>
    private void Enter()
    {
        if (++_depth > 64 && !RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new TemplateException("template nesting too deep for the stack");
    }

    private void Leave() => _depth--;

    private Flow Exec(List<Stmt> body, Scope scope, StringBuilder output)
    {
        foreach (var stmt in body)
        {
            var flow = ExecStatement(stmt, scope, output);
            if (flow != Flow.Normal)
                return flow;
        }
        return Flow.Normal;
    }

    private Flow ExecStatement(Stmt stmt, Scope scope, StringBuilder output)
    {
        Step();
        Enter();
        try
        {
            switch (stmt)
            {
                case TextStmt text:
                    Write(output, text.Text);
                    return Flow.Normal;
                case PrintStmt print:
                    Write(output, Formatting.Str(Eval(print.Value, scope)));
                    return Flow.Normal;
                case IfStmt ifStmt:
                    foreach (var (test, body) in ifStmt.Branches)
                    {
                        if (Eval(test, scope).IsTruthy)
                            return Exec(body, scope, output);
                    }
                    return Exec(ifStmt.Else, scope, output);
                case ForStmt forStmt:
                    RunLoop(forStmt, scope, Eval(forStmt.Iterable, scope), depth0: 0, output);
                    return Flow.Normal;
                case SetStmt set:
                    Assign(set.Target, Eval(set.Value, scope), scope);
                    return Flow.Normal;
                case SetBlockStmt setBlock:
                    Value captured = StringValue.Of(Capture(setBlock.Body, new Scope(scope)));
                    if (setBlock.Filter is not null)
                        captured = EvalFilter(setBlock.Filter, scope, captured);
                    Assign(setBlock.Target, captured, scope);
                    return Flow.Normal;
                case MacroStmt macro:
                    scope.Set(macro.Name, new MacroValue(macro.Name, macro.Signature, macro.Body, scope));
                    return Flow.Normal;
                case CallBlockStmt callBlock:
                    var caller = new MacroValue("caller", callBlock.Signature, callBlock.Body, scope);
                    Write(output, Formatting.Str(EvalCall(callBlock.Call, scope, caller)));
                    return Flow.Normal;
                case FilterBlockStmt filterBlock:
                    var text2 = StringValue.Of(Capture(filterBlock.Body, new Scope(scope)));
                    Write(output, Formatting.Str(EvalFilter(filterBlock.Filter, scope, text2)));
                    return Flow.Normal;
                case WithStmt with:
                    var inner = new Scope(scope);
                    foreach (var (target, value) in with.Assignments)
                        Assign(target, Eval(value, scope), inner);
                    return Exec(with.Body, inner, output);
                case BreakStmt:
                    return Flow.Break;
                case ContinueStmt:
                    return Flow.Continue;
                default:
                    throw new TemplateException($"unsupported statement {stmt.GetType().Name}");
            }
        }
        catch (TemplateException ex) when (ex.Line == 0)
        {
            ex.Line = stmt.Line;
            throw;
        }
        finally
        {
            Leave();
        }
    }

    private string Capture(List<Stmt> body, Scope scope)
    {
        var buffer = new StringBuilder();
        Exec(body, scope, buffer);
        return buffer.ToString();
    }

    /// <summary>Runs a for loop (or one level of a recursive loop), printing into <paramref name="output"/>.</summary>
    private void RunLoop(ForStmt stmt, Scope scope, Value iterable, int depth0, StringBuilder output)
    {
        var items = Iteration.Materialize(this, iterable);
        if (stmt.Filter is not null)
        {
            var kept = new List<Value>();
            foreach (var item in items)
            {
                Step();
                var filterScope = new Scope(scope);
                Assign(stmt.Target, item, filterScope);
                if (Eval(stmt.Filter, filterScope).IsTruthy)
                    kept.Add(item);
            }
            items = kept;
        }

        if (items.Count == 0)
        {
            Exec(stmt.Else, new Scope(scope), output);
            return;
        }

        var loop = new LoopValue(items, depth0, stmt.Recursive ? next => RecurseLoop(stmt, scope, next, depth0 + 1) : null);
        for (int i = 0; i < items.Count; i++)
        {
            Step();
            var iterationScope = new Scope(scope);
            loop.Index0 = i;
            iterationScope.Set("loop", loop);
            Assign(stmt.Target, items[i], iterationScope);
            if (Exec(stmt.Body, iterationScope, output) == Flow.Break)
                break;
        }
    }

    private Value RecurseLoop(ForStmt stmt, Scope scope, Value iterable, int depth0)
    {
        EnterCall();
        try
        {
            var output = new StringBuilder();
            RunLoop(stmt, scope, iterable, depth0, output);
            return StringValue.Of(output.ToString());
        }
        finally
        {
            _callDepth--;
        }
    }

    private void Assign(Expr target, Value value, Scope scope)
    {
        switch (target)
        {
            case NameExpr name:
                scope.Set(name.Name, value);
                break;
            case NsRefExpr nsRef:
                if (!scope.TryGet(nsRef.Name, out var ns) || ns is not NamespaceValue nsValue)
                    throw new TemplateException("cannot assign attribute on non-namespace object");
                nsValue.Attributes[nsRef.Attr] = value;
                break;
            case ListExpr tuple:
                var items = Iteration.Materialize(this, value);
                if (items.Count > tuple.Items.Count)
                    throw new TemplateException($"too many values to unpack (expected {tuple.Items.Count})");
                if (items.Count < tuple.Items.Count)
                    throw new TemplateException($"not enough values to unpack (expected {tuple.Items.Count}, got {items.Count})");
                for (int i = 0; i < items.Count; i++)
                    Assign(tuple.Items[i], items[i], scope);
                break;
            default:
                throw new TemplateException("invalid assignment target");
        }
    }

    private void EnterCall()
    {
        if (++_callDepth > _limits.MaxCallDepth)
        {
            _callDepth--;
            throw new TemplateException($"maximum recursion depth exceeded ({_limits.MaxCallDepth} nested macro calls)");
        }
    }

    /// <summary>Binds arguments exactly as Jinja2's Macro.__call__ does, then renders the body in a new scope.</summary>
    public Value CallMacro(MacroValue macro, CallArgs args)
    {
        var signature = macro.Signature;
        int count = signature.Params.Count;
        var named = new OrderedDictionary<string, Value>(args.Named, StringComparer.Ordinal);
        var values = new Value?[count];
        for (int i = 0; i < Math.Min(count, args.Positional.Count); i++)
            values[i] = args.Positional[i];
        bool foundCaller = signature.Params.Contains("caller");
        for (int i = args.Positional.Count; i < count; i++)
            values[i] = named.Remove(signature.Params[i], out var given) ? given : null;
        Value? caller = null;
        if (signature.UsesCaller && !foundCaller)
            caller = named.Remove("caller", out var c) ? c : UndefinedValue.Hint("No caller defined");
        if (!signature.CatchKwargs && named.Count > 0)
        {
            throw new TemplateException(named.ContainsKey("caller")
                ? $"macro '{macro.Name}' was invoked with two values for the special caller argument. This is most likely a bug."
                : $"macro '{macro.Name}' takes no keyword argument '{named.GetAt(0).Key}'");
        }
        if (!signature.CatchVarargs && args.Positional.Count > count)
            throw new TemplateException($"macro '{macro.Name}' takes not more than {count} argument(s)");

        EnterCall();
        try
        {
            var scope = new Scope(macro.Closure);
            int firstDefault = count - signature.Defaults.Count;
            for (int i = 0; i < count; i++)
            {
                string param = signature.Params[i];
                scope.Set(param, values[i]
                    ?? (i >= firstDefault ? Eval(signature.Defaults[i - firstDefault], scope)
                        : UndefinedValue.Hint($"parameter '{param}' was not provided")));
            }
            if (caller is not null)
                scope.Set("caller", caller);
            if (signature.CatchKwargs)
            {
                var kwargs = new DictValue(Keys);
                foreach (var (key, value) in named)
                    kwargs.Set(key, value);
                scope.Set("kwargs", kwargs);
            }
            if (signature.CatchVarargs)
                scope.Set("varargs", new ListValue(args.Positional.Skip(count).ToList(), isTuple: true));
            return StringValue.Of(Capture(macro.Body, scope));
        }
        finally
        {
            _callDepth--;
        }
    }
}

/// <summary>A macro defined by the template (or the body of a call block, as <c>caller</c>); sees its defining scope.</summary>
internal sealed class MacroValue(string name, MacroSignature signature, List<Stmt> body, Scope closure) : CallableValue
{
    public string Name { get; } = name;

    public MacroSignature Signature { get; } = signature;

    public List<Stmt> Body { get; } = body;

    public Scope Closure { get; } = closure;

    public override string TypeName => "Macro";

    public override string ObjectTypeRepr => "jinja2.runtime.Macro object";

    public override Value Call(Renderer renderer, CallArgs args) => renderer.CallMacro(this, args);
}
