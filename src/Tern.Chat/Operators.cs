using System.Runtime.CompilerServices;

namespace Tern.Chat;

/// <summary>Python's arithmetic, comparison, equality and membership on template values, with Python's error messages.</summary>
internal static class Operators
{
    public static Value Binary(Renderer renderer, string op, Value a, Value b)
    {
        if (op == "~")
        {
            string joined = Formatting.Str(a) + Formatting.Str(b);
            renderer.Produced(joined.Length);
            return StringValue.Of(joined);
        }
        if (op == "%" && a is StringValue format)
            return new StringValue(Printf.Format(renderer, format.Value, b), format.IsMarkup);
        if (a is UndefinedValue ua)
            throw new TemplateException(ua.Message);
        if (b is UndefinedValue ub)
            throw new TemplateException(ub.Message);
        if (IsNumber(a) && IsNumber(b))
            return Arithmetic(op, a, b);
        return op switch
        {
            "+" => Add(renderer, a, b),
            "*" => Repeat(renderer, a, b),
            _ => throw Unsupported(op, a, b),
        };
    }

    public static Value Unary(string op, Value v)
    {
        if (v is UndefinedValue u)
            throw new TemplateException(u.Message);
        return (op, v) switch
        {
            ("-", IntValue i) => IntValue.Of(checked(-i.Value)),
            ("-", FloatValue f) => new FloatValue(-f.Value),
            ("-", BoolValue b) => IntValue.Of(b.Value ? -1 : 0),
            ("+", IntValue or FloatValue) => v,
            ("+", BoolValue b) => IntValue.Of(b.Value ? 1 : 0),
            _ => throw new TemplateException($"bad operand type for unary {op}: '{v.TypeName}'"),
        };
    }

    public static bool IsNumber(Value v) => v is IntValue or FloatValue or BoolValue;

    public static bool TryInt(Value v, out long value)
    {
        (bool ok, value) = v switch
        {
            IntValue i => (true, i.Value),
            BoolValue b => (true, b.Value ? 1L : 0L),
            _ => (false, 0L),
        };
        return ok;
    }

    public static double ToDouble(Value v) => v switch
    {
        IntValue i => i.Value,
        BoolValue b => b.Value ? 1 : 0,
        FloatValue f => f.Value,
        _ => throw new TemplateException($"must be real number, not {v.TypeName}"),
    };

    private static Value Arithmetic(string op, Value a, Value b)
    {
        try
        {
            if (TryInt(a, out long x) && TryInt(b, out long y))
            {
                switch (op)
                {
                    case "+": return IntValue.Of(checked(x + y));
                    case "-": return IntValue.Of(checked(x - y));
                    case "*": return IntValue.Of(checked(x * y));
                    case "/": return y == 0 ? throw new TemplateException("division by zero") : new FloatValue((double)x / y);
                    case "//": return y == 0 ? throw new TemplateException("integer division or modulo by zero") : IntValue.Of(FloorDiv(x, y));
                    case "%": return y == 0 ? throw new TemplateException("integer modulo by zero") : IntValue.Of(x - FloorDiv(x, y) * y);
                    case "**": return y >= 0 ? IntValue.Of(Power(x, y)) : new FloatValue(Math.Pow(x, y));
                }
            }
            double p = ToDouble(a), q = ToDouble(b);
            switch (op)
            {
                case "+": return new FloatValue(p + q);
                case "-": return new FloatValue(p - q);
                case "*": return new FloatValue(p * q);
                case "/": return q == 0 ? throw new TemplateException("float division by zero") : new FloatValue(p / q);
                case "//": return q == 0 ? throw new TemplateException("float floor division by zero") : new FloatValue(Math.Floor(p / q));
                case "%":
                    if (q == 0)
                        throw new TemplateException("float modulo");
                    double m = p % q;
                    return new FloatValue(m != 0 && (m < 0) != (q < 0) ? m + q : m);
                case "**":
                    if (p == 0 && q < 0)
                        throw new TemplateException("0.0 cannot be raised to a negative power");
                    return new FloatValue(Math.Pow(p, q));
            }
        }
        catch (OverflowException)
        {
            throw new TemplateException("integer overflow (templates use 64-bit integers)");
        }
        throw Unsupported(op, a, b);
    }

    private static long FloorDiv(long x, long y)
    {
        long q = x / y;
        return (x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q;
    }

    private static long Power(long x, long y)
    {
        long result = 1;
        while (y > 0)
        {
            if ((y & 1) != 0)
                result = checked(result * x);
            y >>= 1;
            if (y > 0)
                x = checked(x * x);
        }
        return result;
    }

    private static Value Add(Renderer renderer, Value a, Value b)
    {
        switch (a, b)
        {
            case (StringValue x, StringValue y) when x.IsMarkup || y.IsMarkup:
                string markup = Escape(x) + Escape(y);
                renderer.Produced(markup.Length);
                return new StringValue(markup, isMarkup: true);
            case (StringValue x, StringValue y):
                renderer.Produced(x.Value.Length + y.Value.Length);
                return StringValue.Of(x.Value + y.Value);
            case (ListValue x, ListValue y) when x.IsTuple == y.IsTuple:
                renderer.Allocated(x.Items.Count + y.Items.Count);
                return new ListValue([.. x.Items, .. y.Items], x.IsTuple);
            case (StringValue or ListValue, _):
                throw new TemplateException($"can only concatenate {a.TypeName} (not \"{b.TypeName}\") to {a.TypeName}");
            default:
                throw Unsupported("+", a, b);
        }
    }

    private static string Escape(StringValue s) => s.IsMarkup ? s.Value : PyStr.HtmlEscape(s.Value);

    private static Value Repeat(Renderer renderer, Value a, Value b)
    {
        var (sequence, countValue) = a is StringValue or ListValue ? (a, b) : (b, a);
        if (sequence is not (StringValue or ListValue))
            throw Unsupported("*", a, b);
        if (!TryInt(countValue, out long count))
            throw new TemplateException($"can't multiply sequence by non-int of type '{countValue.TypeName}'");
        count = Math.Clamp(count, 0, int.MaxValue);
        if (sequence is StringValue s)
        {
            if (s.Value.Length == 0 || count == 0)
                return StringValue.Empty;
            renderer.Produced(s.Value.Length * count);
            return new StringValue(PyStr.Repeat(s.Value, (int)count), s.IsMarkup);
        }
        var list = (ListValue)sequence;
        if (list.Items.Count == 0)
            count = 0;
        renderer.Allocated(list.Items.Count * count);
        var items = new List<Value>();
        for (long i = 0; i < count; i++)
            items.AddRange(list.Items);
        return new ListValue(items, list.IsTuple);
    }

    private static TemplateException Unsupported(string op, Value a, Value b) =>
        new($"unsupported operand type(s) for {(op == "**" ? "** or pow()" : op)}: '{a.TypeName}' and '{b.TypeName}'");

    public static bool Compare(Renderer renderer, string op, Value a, Value b) => op switch
    {
        "==" => AreEqual(renderer, a, b),
        "!=" => !AreEqual(renderer, a, b),
        "<" => Order(renderer, op, a, b) < 0,
        "<=" => Order(renderer, op, a, b) <= 0,
        ">" => Order(renderer, op, a, b) > 0,
        ">=" => Order(renderer, op, a, b) >= 0,
        "in" => Contains(renderer, b, a),
        "notin" => !Contains(renderer, b, a),
        _ => throw new TemplateException($"unknown comparison {op}"),
    };

    /// <summary>Python's <c>==</c>; every item compared and every 64 characters compared cost one step.</summary>
    public static bool AreEqual(Renderer renderer, Value a, Value b) => AreEqual(renderer, a, b, 0);

    private static bool AreEqual(Renderer renderer, Value a, Value b, int depth)
    {
        renderer.Step();
        if (ReferenceEquals(a, b))
            return a is not FloatValue f || !double.IsNaN(f.Value);
        if (IsNumber(a) && IsNumber(b))
        {
            if (TryInt(a, out long x) && TryInt(b, out long y))
                return x == y;
            return ToDouble(a) == ToDouble(b);
        }
        switch (a, b)
        {
            case (StringValue x, StringValue y):
                if (x.Value.Length != y.Value.Length)
                    return false;
                renderer.Scan(x.Value.Length);
                return x.Value == y.Value;
            case (ListValue x, ListValue y):
                if (x.IsTuple != y.IsTuple || x.Items.Count != y.Items.Count)
                    return false;
                CheckNesting(depth, "in comparison");
                for (int i = 0; i < x.Items.Count; i++)
                {
                    if (!AreEqual(renderer, x.Items[i], y.Items[i], depth + 1))
                        return false;
                }
                return true;
            case (DictValue x, DictValue y):
                if (x.Items.Count != y.Items.Count)
                    return false;
                CheckNesting(depth, "in comparison");
                foreach (var (key, value) in x.Items)
                {
                    if (!y.Items.TryGetValue(key, out var other) || !AreEqual(renderer, value, other, depth + 1))
                        return false;
                }
                return true;
            case (UndefinedValue, UndefinedValue):
                return true;
            case (RangeValue x, RangeValue y):
                return x.Count == y.Count && (x.Count == 0 || (x.Start == y.Start && (x.Count == 1 || x.Step == y.Step)));
            default:
                return false;
        }
    }

    /// <summary>Fails as Python does when comparing or hashing nests deeper than a program's stack would allow.</summary>
    public static void CheckNesting(int depth, string during)
    {
        if (depth > MaxNesting || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new TemplateException($"maximum recursion depth exceeded {during}");
    }

    private const int MaxNesting = 500;

    /// <summary>Python's ordering: numbers, strings by code point, lists and tuples lexicographically.</summary>
    public static int Order(Renderer renderer, string op, Value a, Value b) => Order(renderer, op, a, b, 0);

    private static int Order(Renderer renderer, string op, Value a, Value b, int depth)
    {
        renderer.Step();
        if (a is UndefinedValue ua)
            throw new TemplateException(ua.Message);
        if (b is UndefinedValue ub)
            throw new TemplateException(ub.Message);
        if (IsNumber(a) && IsNumber(b))
        {
            if (TryInt(a, out long x) && TryInt(b, out long y))
                return x.CompareTo(y);
            double p = ToDouble(a), q = ToDouble(b);
            return p < q ? -1 : p > q ? 1 : 0;
        }
        switch (a, b)
        {
            case (StringValue x, StringValue y):
                renderer.Scan(Math.Min(x.Value.Length, y.Value.Length));
                return PyStr.CompareCodePoints(x.Value, y.Value);
            case (ListValue x, ListValue y) when x.IsTuple == y.IsTuple:
                CheckNesting(depth, "in comparison");
                for (int i = 0; i < Math.Min(x.Items.Count, y.Items.Count); i++)
                {
                    if (!AreEqual(renderer, x.Items[i], y.Items[i], depth + 1))
                        return Order(renderer, op, x.Items[i], y.Items[i], depth + 1);
                }
                return x.Items.Count.CompareTo(y.Items.Count);
            default:
                throw new TemplateException($"'{op}' not supported between instances of '{a.TypeName}' and '{b.TypeName}'");
        }
    }

    /// <summary>Python's <c>item in container</c>, charged for every item compared or character searched.</summary>
    public static bool Contains(Renderer renderer, Value container, Value item)
    {
        switch (container)
        {
            case StringValue s:
                if (item is not StringValue sub)
                    throw new TemplateException($"'in <string>' requires string as left operand, not {item.TypeName}");
                renderer.Search(s.Value.Length, sub.Value.Length);
                return s.Value.Contains(sub.Value, StringComparison.Ordinal);
            case DictValue dict:
                _ = dict.Keys.GetHashCode(item); // unhashable keys raise, as in Python
                return dict.Items.ContainsKey(item);
            case ListValue list:
                return list.Items.Any(x => AreEqual(renderer, x, item));
            case RangeValue range:
                return TryInt(item, out long n) && range.Count > 0
                    && (range.Step > 0 ? n >= range.Start && n < range.Stop : n <= range.Start && n > range.Stop)
                    && (n - range.Start) % range.Step == 0;
            case IteratorValue or UndefinedValue:
                return Iteration.Iterate(renderer, container).Any(x => AreEqual(renderer, x, item));
            default:
                throw new TemplateException($"argument of type '{container.TypeName}' is not iterable");
        }
    }
}
