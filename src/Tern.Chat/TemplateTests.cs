namespace Tern.Chat;

/// <summary>Jinja2's built-in tests (<c>x is defined</c>, <c>x is string</c>, <c>x is divisibleby 3</c>, ...).</summary>
internal static class TemplateTests
{
    private delegate bool Test(Renderer renderer, Value value, CallArgs args);

    private static readonly Dictionary<string, Test> All = new(StringComparer.Ordinal)
    {
        ["boolean"] = (_, v, _) => v is BoolValue,
        ["callable"] = (_, v, _) => v is CallableValue or UndefinedValue,
        ["defined"] = (_, v, _) => v is not UndefinedValue,
        ["divisibleby"] = (r, v, a) => Operators.AreEqual(r, Operators.Binary(r, "%", v, Arg(a, 0, "num")), IntValue.Of(0)),
        ["escaped"] = (_, _, _) => false,
        ["even"] = (r, v, _) => Operators.AreEqual(r, Operators.Binary(r, "%", v, IntValue.Of(2)), IntValue.Of(0)),
        ["false"] = (_, v, _) => v == BoolValue.False,
        ["filter"] = (_, v, _) => v is StringValue s && Filters.Exists(s.Value),
        ["float"] = (_, v, _) => v is FloatValue,
        ["in"] = (r, v, a) => Operators.Contains(r, Arg(a, 0, "seq"), v),
        ["integer"] = (_, v, _) => v is IntValue,
        ["iterable"] = (_, v, _) => Iteration.IsIterable(v),
        ["lower"] = (_, v, _) => IsCased(Formatting.Str(v), upper: false),
        ["mapping"] = (_, v, _) => v is DictValue,
        ["none"] = (_, v, _) => v is NoneValue,
        ["number"] = (_, v, _) => Operators.IsNumber(v),
        ["odd"] = (r, v, _) => Operators.AreEqual(r, Operators.Binary(r, "%", v, IntValue.Of(2)), IntValue.Of(1)),
        ["sameas"] = (_, v, a) => SameAs(v, Arg(a, 0, "other")),
        ["sequence"] = (_, v, _) => v is StringValue or ListValue or DictValue or RangeValue or UndefinedValue,
        ["string"] = (_, v, _) => v is StringValue,
        ["test"] = (_, v, _) => v is StringValue s && All!.ContainsKey(s.Value),
        ["true"] = (_, v, _) => v == BoolValue.True,
        ["undefined"] = (_, v, _) => v is UndefinedValue,
        ["upper"] = (_, v, _) => IsCased(Formatting.Str(v), upper: true),
        ["eq"] = Comparison("=="),
        ["equalto"] = Comparison("=="),
        ["=="] = Comparison("=="),
        ["ne"] = Comparison("!="),
        ["!="] = Comparison("!="),
        ["lt"] = Comparison("<"),
        ["lessthan"] = Comparison("<"),
        ["<"] = Comparison("<"),
        ["le"] = Comparison("<="),
        ["<="] = Comparison("<="),
        ["gt"] = Comparison(">"),
        ["greaterthan"] = Comparison(">"),
        [">"] = Comparison(">"),
        ["ge"] = Comparison(">="),
        [">="] = Comparison(">="),
    };

    public static bool Exists(string name) => All.ContainsKey(name);

    /// <summary>Applies a test; <paramref name="inTemplate"/> is true for <c>x is name</c> in the source, false for select('name').</summary>
    public static bool Apply(Renderer renderer, string name, Value value, CallArgs args, bool inTemplate = false) =>
        All.TryGetValue(name, out var test)
            ? test(renderer, value, args)
            : throw new TemplateException($"No test named '{name}'{(inTemplate ? " found" : "")}.");

    private static Test Comparison(string op) => (r, v, a) => Operators.Compare(r, op, v, Arg(a, 0, "other"));

    private static Value Arg(CallArgs args, int index, string name) =>
        args.Get(index, name) ?? throw new TemplateException($"missing required argument '{name}'");

    private static bool SameAs(Value a, Value b) => ReferenceEquals(a, b)
        || (a is IntValue x && b is IntValue y && x.Value == y.Value && x.Value is >= -5 and <= 256);

    /// <summary>Python's islower()/isupper(): at least one cased character and none of the other case.</summary>
    private static bool IsCased(string s, bool upper)
    {
        bool anyCased = false;
        foreach (char c in s)
        {
            if (upper ? char.IsLower(c) : char.IsUpper(c))
                return false;
            anyCased |= char.IsLetter(c) && (char.IsUpper(c) || char.IsLower(c));
        }
        return anyCased;
    }
}
