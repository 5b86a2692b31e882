namespace Tern.Chat;

/// <summary>The filters over sequences: items, reverse, map, select/reject(attr), unique, sort, dictsort, min/max, sum, batch.</summary>
internal static partial class Filters
{
    private static Value Items(Renderer renderer, Value v, CallArgs args) => new IteratorValue(ItemPairs(renderer, v));

    private static IEnumerable<Value> ItemPairs(Renderer renderer, Value v)
    {
        if (v is UndefinedValue)
            yield break;
        if (v is not DictValue dict)
            throw new TemplateException("Can only get item pairs from a mapping.");
        renderer.Charge(dict.Items.Count);
        foreach (var (key, value) in dict.Items.ToList())
        {
            renderer.Step();
            yield return ListValue.Tuple(key, value);
        }
    }

    private static Value Reverse(Renderer renderer, Value v, CallArgs args) => v switch
    {
        StringValue s => StringValue.Of(string.Concat(CodePoints(renderer, s.Value).Reverse().Select(c => c.Value))),
        ListValue or DictValue or RangeValue or UndefinedValue =>
            new IteratorValue(Iteration.Materialize(renderer, v).Reverse().ToList(), v is ListValue { IsTuple: false } ? "list_reverseiterator" : "reversed"),
        IteratorValue => new ListValue(Enumerable.Reverse(Iteration.ToList(renderer, v)).ToList()),
        _ => throw new TemplateException("argument must be iterable"),
    };

    private static Value Map(Renderer renderer, Value v, CallArgs args)
    {
        if (!v.IsTruthy)
            return new IteratorValue([]);
        Func<Value, Value> map;
        if (args.Positional.Count == 0 && args.Named.ContainsKey("attribute"))
        {
            var named = new Dictionary<string, Value>(args.Named);
            var attribute = named["attribute"];
            named.Remove("attribute");
            var fallback = named.Remove("default", out var d) ? d : null;
            if (named.Count > 0)
                throw new TemplateException($"Unexpected keyword argument '{named.Keys.First()}'");
            map = AttrGetter(renderer, attribute, fallback);
        }
        else
        {
            if (args.Positional.Count == 0)
                throw new TemplateException("map requires a filter argument");
            string name = Formatting.Str(args.Positional[0]);
            var rest = Rest(args, 1);
            map = item => Apply(renderer, name, item, rest);
        }
        return new IteratorValue(Iteration.Iterate(renderer, v).Select(map));
    }

    private static CallArgs Rest(CallArgs args, int skip)
    {
        var rest = new CallArgs();
        rest.Positional.AddRange(args.Positional.Skip(skip));
        foreach (var (key, value) in args.Named)
            rest.Named[key] = value;
        return rest;
    }

    private static Value SelectOrReject(Renderer renderer, Value v, CallArgs args, bool lookupAttribute, bool keep)
    {
        if (!v.IsTruthy)
            return new IteratorValue([]);
        var transform = lookupAttribute
            ? AttrGetter(renderer, args.Positional.Count > 0 ? args.Positional[0] : throw new TemplateException("Missing parameter for attribute name"))
            : (item => item);
        int offset = lookupAttribute ? 1 : 0;
        Func<Value, bool> test;
        if (args.Positional.Count > offset)
        {
            string name = Formatting.Str(args.Positional[offset]);
            var rest = Rest(args, offset + 1);
            test = item => TemplateTests.Apply(renderer, name, item, rest);
        }
        else
        {
            test = item => item.IsTruthy;
        }
        return new IteratorValue(Iteration.Iterate(renderer, v).Where(item => test(transform(item)) == keep));
    }

    private static Value Unique(Renderer renderer, Value v, CallArgs args)
    {
        var getter = AttrGetter(renderer, args.Get(1, "attribute"), ignoreCase: !BoolArg(args, 0, "case_sensitive"));
        return new IteratorValue(UniqueItems(renderer, v, getter));
    }

    private static IEnumerable<Value> UniqueItems(Renderer renderer, Value v, Func<Value, Value> key)
    {
        var seen = new HashSet<Value>(renderer.Keys);
        foreach (var item in Iteration.Iterate(renderer, v))
        {
            if (seen.Add(key(item)))
                yield return item;
        }
    }

    private static Value Sort(Renderer renderer, Value v, CallArgs args)
    {
        bool reverse = BoolArg(args, 0, "reverse");
        bool ignoreCase = !BoolArg(args, 1, "case_sensitive");
        var attribute = args.Get(2, "attribute");
        Func<Value, Value> key;
        if (attribute is StringValue s && s.Value.Contains(','))
        {
            var getters = s.Value.Split(',').Select(part => AttrGetter(renderer, StringValue.Of(part), ignoreCase: ignoreCase)).ToArray();
            key = item => ListValue.Tuple(getters.Select(g => g(item)).ToArray());
        }
        else
        {
            key = AttrGetter(renderer, attribute, ignoreCase: ignoreCase);
        }
        return new ListValue(StableSort(renderer, Iteration.ToList(renderer, v), key, reverse));
    }

    private static Value DictSort(Renderer renderer, Value v, CallArgs args)
    {
        if (v is UndefinedValue undefined)
            throw new TemplateException(undefined.Message);
        if (v is not DictValue dict)
            throw new TemplateException($"'{v.TypeName}' object has no attribute 'items'");
        bool caseSensitive = BoolArg(args, 0, "case_sensitive");
        string by = Formatting.Str(args.Get(1, "by") ?? StringValue.Of("key"));
        int position = by switch
        {
            "key" => 0,
            "value" => 1,
            _ => throw new TemplateException("You can only sort by either \"key\" or \"value\""),
        };
        var pairs = dict.Items.Select(kv => (Value)ListValue.Tuple(kv.Key, kv.Value)).ToList();
        Func<Value, Value> key = pair =>
        {
            var item = ((ListValue)pair).Items[position];
            if (caseSensitive || item is not StringValue s)
                return item;
            renderer.Produced(s.Value.Length);
            return StringValue.Of(s.Value.ToLowerInvariant());
        };
        return new ListValue(StableSort(renderer, pairs, key, BoolArg(args, 2, "reverse")));
    }

    /// <summary>Python's sorted(): stable, also when reversed.</summary>
    private static List<Value> StableSort(Renderer renderer, List<Value> items, Func<Value, Value> key, bool reverse)
    {
        var keyed = items.Select(item => (Key: key(item), Item: item)).ToArray();
        var buffer = new (Value Key, Value Item)[keyed.Length];
        MergeSort(renderer, keyed, buffer, 0, keyed.Length, reverse);
        return keyed.Select(k => k.Item).ToList();
    }

    private static void MergeSort(Renderer renderer, (Value Key, Value Item)[] a, (Value Key, Value Item)[] buffer, int lo, int hi, bool reverse)
    {
        if (hi - lo < 2)
            return;
        int mid = (lo + hi) / 2;
        MergeSort(renderer, a, buffer, lo, mid, reverse);
        MergeSort(renderer, a, buffer, mid, hi, reverse);
        int i = lo, j = mid, k = lo;
        while (i < mid && j < hi)
        {
            int order = Operators.Order(renderer, "<", a[j].Key, a[i].Key);
            bool takeRight = reverse ? order > 0 : order < 0;
            buffer[k++] = takeRight ? a[j++] : a[i++];
        }
        while (i < mid)
            buffer[k++] = a[i++];
        while (j < hi)
            buffer[k++] = a[j++];
        Array.Copy(buffer, lo, a, lo, hi - lo);
    }

    private static Value MinOrMax(Renderer renderer, Value v, CallArgs args, bool max)
    {
        var key = AttrGetter(renderer, args.Get(1, "attribute"), ignoreCase: !BoolArg(args, 0, "case_sensitive"));
        Value? best = null, bestKey = null;
        foreach (var item in Iteration.Iterate(renderer, v))
        {
            var k = key(item);
            if (best is null || (max ? Operators.Order(renderer, ">", k, bestKey!) > 0 : Operators.Order(renderer, "<", k, bestKey!) < 0))
            {
                best = item;
                bestKey = k;
            }
        }
        return best ?? UndefinedValue.Hint("No aggregated item, sequence was empty.");
    }

    private static Value Sum(Renderer renderer, Value v, CallArgs args)
    {
        var getter = AttrGetter(renderer, args.Get(0, "attribute"));
        Value total = args.Get(1, "start") ?? IntValue.Of(0);
        foreach (var item in Iteration.Iterate(renderer, v))
            total = Operators.Binary(renderer, "+", total, getter(item));
        return total;
    }

    private static Value Batch(Renderer renderer, Value v, CallArgs args)
    {
        long size = IntArg(args, 0, "linecount", 0);
        if (size <= 0)
            throw new TemplateException("batch size must be positive");
        var fill = args.Get(1, "fill_with");
        return new IteratorValue(Batches(renderer, v, (int)Math.Min(size, int.MaxValue), fill is NoneValue ? null : fill));
    }

    private static IEnumerable<Value> Batches(Renderer renderer, Value v, int size, Value? fill)
    {
        var current = new List<Value>();
        foreach (var item in Iteration.Iterate(renderer, v))
        {
            if (current.Count == size)
            {
                yield return new ListValue(current);
                current = [];
            }
            current.Add(item);
        }
        if (current.Count == 0)
            yield break;
        while (fill is not null && current.Count < size)
            current.Add(fill);
        yield return new ListValue(current);
    }
}
