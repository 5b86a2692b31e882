using System.Collections;
using System.Runtime.CompilerServices;

namespace Tern.Chat;

/// <summary>
/// A template value. Templates see only these types (never .NET objects), with Python's semantics: None, bool, int,
/// float, str, list/tuple, dict, undefined, plus Jinja2's namespace, range, one-shot iterators and callables.
/// </summary>
internal abstract class Value
{
    /// <summary>Python's <c>type(x).__name__</c>, as used in error messages.</summary>
    public abstract string TypeName { get; }

    public virtual bool IsTruthy => true;

    /// <summary>Jinja2's <c>object_type_repr</c>: "dict object", "None", "jinja2.utils.Namespace object".</summary>
    public virtual string ObjectTypeRepr => TypeName + " object";

    public static Value Bool(bool b) => b ? BoolValue.True : BoolValue.False;
}

internal sealed class NoneValue : Value
{
    public static readonly NoneValue Instance = new();

    private NoneValue()
    {
    }

    public override string TypeName => "NoneType";

    public override bool IsTruthy => false;

    public override string ObjectTypeRepr => "None";
}

internal sealed class BoolValue : Value
{
    public static readonly BoolValue True = new(true);
    public static readonly BoolValue False = new(false);

    private BoolValue(bool value) => Value = value;

    public bool Value { get; }

    public override string TypeName => "bool";

    public override bool IsTruthy => Value;
}

internal sealed class IntValue : Value
{
    private static readonly IntValue[] Small = Enumerable.Range(-5, 262).Select(i => new IntValue(i)).ToArray();

    private IntValue(long value) => Value = value;

    public long Value { get; }

    public override string TypeName => "int";

    public override bool IsTruthy => Value != 0;

    public static IntValue Of(long value) => value is >= -5 and <= 256 ? Small[value + 5] : new IntValue(value);
}

internal sealed class FloatValue(double value) : Value
{
    public double Value { get; } = value;

    public override string TypeName => "float";

    public override bool IsTruthy => Value != 0;
}

/// <summary>
/// A Python str. <see cref="IsMarkup"/> marks Jinja2's Markup (from <c>|safe</c> or <c>|escape</c>): adding a plain
/// string to it HTML-escapes the plain one, as Jinja2 does even with autoescaping off.
/// </summary>
internal sealed class StringValue(string value, bool isMarkup = false) : Value
{
    public static readonly StringValue Empty = new("");

    public string Value { get; } = value;

    public bool IsMarkup { get; } = isMarkup;

    public override string TypeName => "str";

    public override bool IsTruthy => Value.Length > 0;

    public static StringValue Of(string s) => s.Length == 0 ? Empty : new StringValue(s);
}

/// <summary>A Python list, or a tuple when <see cref="IsTuple"/> (tuples compare unequal to lists, print with parentheses).</summary>
internal sealed class ListValue(List<Value> items, bool isTuple = false) : Value
{
    public List<Value> Items { get; } = items;

    public bool IsTuple { get; } = isTuple;

    public override string TypeName => IsTuple ? "tuple" : "list";

    public override bool IsTruthy => Items.Count > 0;

    public static ListValue Tuple(params Value[] items) => new([.. items], isTuple: true);
}

/// <summary>A Python dict: insertion-ordered, keys compared with Python's equality (1 == 1.0 == True).</summary>
internal sealed class DictValue(ValueKeyComparer keys) : Value
{
    public OrderedDictionary<Value, Value> Items { get; } = new(keys);

    public ValueKeyComparer Keys => keys;

    public override string TypeName => "dict";

    public override bool IsTruthy => Items.Count > 0;

    public Value? Get(string key) => Items.TryGetValue(StringValue.Of(key), out var v) ? v : null;

    public void Set(string key, Value value) => Items[StringValue.Of(key)] = value;
}

/// <summary>Jinja2's <c>namespace()</c>: the one object whose attributes a template may assign across scopes.</summary>
internal sealed class NamespaceValue : Value
{
    public OrderedDictionary<string, Value> Attributes { get; } = new(StringComparer.Ordinal);

    public override string TypeName => "Namespace";

    public override string ObjectTypeRepr => "jinja2.utils.Namespace object";
}

/// <summary>Python's <c>range</c>: indexed lazily, so <c>range(10**9)</c> costs nothing until iterated.</summary>
internal sealed class RangeValue : Value, IReadOnlyList<Value>
{
    public RangeValue(long start, long stop, long step)
    {
        if (step == 0)
            throw new TemplateException("range() arg 3 must not be zero");
        Start = start;
        Stop = stop;
        Step = step;
        long count = step > 0
            ? (stop > start ? (stop - start - 1) / step + 1 : 0)
            : (start > stop ? (start - stop - 1) / -step + 1 : 0);
        if (count > int.MaxValue)
            throw new TemplateException($"range too big: {count} items");
        Count = (int)count;
    }

    public long Start { get; }

    public long Stop { get; }

    public long Step { get; }

    public int Count { get; }

    public override string TypeName => "range";

    public override bool IsTruthy => Count > 0;

    public Value this[int index] => IntValue.Of(Start + index * Step);

    public IEnumerator<Value> GetEnumerator()
    {
        for (int i = 0; i < Count; i++)
            yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// A Python generator or iterator (what <c>map</c>, <c>select</c>, <c>unique</c>, <c>reverse</c> return): lazy, usable
/// once, always truthy, without a length and not JSON serializable, exactly as templates see them under Jinja2.
/// </summary>
internal sealed class IteratorValue(IEnumerable<Value> source, string typeName = "generator") : Value
{
    private IEnumerable<Value>? _source = source;

    public override string TypeName { get; } = typeName;

    public IEnumerable<Value> Consume()
    {
        var source = _source;
        _source = null;
        return source ?? [];
    }
}

/// <summary>Jinja2's Undefined: prints as empty, is falsy and iterates as empty; most other uses raise its message.</summary>
internal sealed class UndefinedValue : Value
{
    private readonly Func<string> _message;

    private UndefinedValue(Func<string> message) => _message = message;

    public string Message => _message();

    public override string TypeName => "Undefined";

    public override bool IsTruthy => false;

    public override string ObjectTypeRepr => "jinja2.runtime.Undefined object";

    public static UndefinedValue Named(string name) => new(() => $"{Formatting.ReprString(name)} is undefined");

    public static UndefinedValue Hint(string hint) => new(() => hint);

    /// <summary>A missing attribute or item of <paramref name="owner"/>, worded as Jinja2 words it.</summary>
    public static UndefinedValue Missing(Value owner, Value key) => new(() => key is StringValue s
        ? $"{Formatting.ReprString(owner.ObjectTypeRepr)} has no attribute {Formatting.ReprString(s.Value)}"
        : $"{owner.ObjectTypeRepr} has no element {Formatting.Repr(key)}");
}

/// <summary>Arguments of a call: positional then keyword, in source order.</summary>
internal sealed class CallArgs
{
    public static readonly CallArgs None = new();

    public List<Value> Positional { get; } = [];

    public OrderedDictionary<string, Value> Named { get; } = new(StringComparer.Ordinal);

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, or null when absent.</summary>
    public Value? Get(int index, string name) =>
        index < Positional.Count ? Positional[index] : Named.GetValueOrDefault(name);

    public static CallArgs Of(params Value[] positional)
    {
        var args = new CallArgs();
        args.Positional.AddRange(positional);
        return args;
    }
}

internal abstract class CallableValue : Value
{
    public override string TypeName => "function";

    public abstract Value Call(Renderer renderer, CallArgs args);
}

internal sealed class BuiltinFunction(string name, Func<Renderer, CallArgs, Value> body) : CallableValue
{
    public string Name { get; } = name;

    public override string TypeName => "builtin_function_or_method";

    public override Value Call(Renderer renderer, CallArgs args) => body(renderer, args);
}

/// <summary>A method looked up on a value (<c>s.strip</c>), called later with its arguments.</summary>
internal sealed class BoundMethod(Value target, string name) : CallableValue
{
    public Value Target { get; } = target;

    public string Name { get; } = name;

    public override string TypeName => "builtin_function_or_method";

    public override Value Call(Renderer renderer, CallArgs args) => Methods.Invoke(renderer, Target, Name, args);
}

/// <summary>
/// Dict-key equality with Python's hashing rules: 1, 1.0 and True are the same key; lists and dicts are unhashable.
/// Hashing and comparing keys is charged to the render, as a key may be a long string or a large tuple.
/// </summary>
internal sealed class ValueKeyComparer(Renderer renderer) : IEqualityComparer<Value>
{
    public bool Equals(Value? x, Value? y) => x is not null && y is not null && Operators.AreEqual(renderer, x, y);

    public int GetHashCode(Value v) => Hash(v, 0);

    private int Hash(Value v, int depth)
    {
        renderer.Step();
        switch (v)
        {
            case BoolValue b:
                return (b.Value ? 1L : 0L).GetHashCode();
            case IntValue i:
                return i.Value.GetHashCode();
            case FloatValue f:
                return f.Value == Math.Floor(f.Value) && Math.Abs(f.Value) < 9.2e18 ? ((long)f.Value).GetHashCode() : f.Value.GetHashCode();
            case StringValue s:
                renderer.Scan(s.Value.Length);
                return string.GetHashCode(s.Value, StringComparison.Ordinal);
            case NoneValue:
                return 0x5eed;
            case UndefinedValue:
                return 0x0bad;
            case ListValue { IsTuple: true } t:
                Operators.CheckNesting(depth, "while hashing");
                int hash = 17;
                foreach (var item in t.Items)
                    hash = hash * 31 + Hash(item, depth + 1);
                return hash;
            case ListValue or DictValue:
                throw new TemplateException($"unhashable type: '{v.TypeName}'");
            default:
                return RuntimeHelpers.GetHashCode(v);
        }
    }
}
