namespace Tern.Chat;

/// <summary>Python's iteration protocol over template values; every item produced is charged one step.</summary>
internal static class Iteration
{
    /// <summary>The items of <paramref name="value"/> as a list (ranges stay lazy; lists are snapshotted).</summary>
    public static IReadOnlyList<Value> Materialize(Renderer renderer, Value value) => value switch
    {
        RangeValue range => range,
        ListValue list => [.. list.Items],
        UndefinedValue => [],
        _ => Iterate(renderer, value).ToList(),
    };

    public static IEnumerable<Value> Iterate(Renderer renderer, Value value)
    {
        switch (value)
        {
            case ListValue list:
                return Charged(renderer, list.Items.ToArray());
            case DictValue dict:
                return Charged(renderer, dict.Items.Keys.ToArray());
            case StringValue s:
                return Charged(renderer, PyStr.Chars(s.Value));
            case RangeValue range:
                return Charged(renderer, range);
            case IteratorValue iterator:
                return Charged(renderer, iterator.Consume());
            case UndefinedValue:
                return [];
            default:
                throw NotIterable(value);
        }
    }

    public static bool IsIterable(Value value) =>
        value is ListValue or DictValue or StringValue or RangeValue or IteratorValue or UndefinedValue;

    public static TemplateException NotIterable(Value value) => new($"'{value.TypeName}' object is not iterable");

    private static IEnumerable<Value> Charged(Renderer renderer, IEnumerable<Value> items)
    {
        foreach (var item in items)
        {
            renderer.Step();
            yield return item;
        }
    }
}
