namespace Tern.Chat;

/// <summary>
/// Python's iteration protocol over template values; every item produced is charged one step, and a snapshot of a
/// list, dict or string is charged for its size when it is taken.
/// </summary>
internal static class Iteration
{
    /// <summary>The items of <paramref name="value"/> as a list (ranges stay lazy; lists are snapshotted).</summary>
    public static IReadOnlyList<Value> Materialize(Renderer renderer, Value value) => value switch
    {
        RangeValue range => range,
        ListValue list => Snapshot(renderer, list.Items),
        UndefinedValue => [],
        _ => ToList(renderer, value),
    };

    /// <summary>The items of <paramref name="value"/> in a new list; a size known in advance is checked against the limits before any is copied.</summary>
    public static List<Value> ToList(Renderer renderer, Value value)
    {
        if (value is ListValue or DictValue or StringValue or RangeValue)
            renderer.CheckItems(Filters.Length(value));
        return Iterate(renderer, value).ToList();
    }

    public static IEnumerable<Value> Iterate(Renderer renderer, Value value)
    {
        switch (value)
        {
            case ListValue list:
                return Charged(renderer, Snapshot(renderer, list.Items));
            case DictValue dict:
                return Charged(renderer, Snapshot(renderer, dict.Items.Keys));
            case StringValue s:
                renderer.Allocated(s.Value.Length);
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

    private static Value[] Snapshot(Renderer renderer, IReadOnlyCollection<Value> items)
    {
        renderer.Charge(items.Count);
        return [.. items];
    }

    private static IEnumerable<Value> Charged(Renderer renderer, IEnumerable<Value> items)
    {
        foreach (var item in items)
        {
            renderer.Step();
            yield return item;
        }
    }
}
