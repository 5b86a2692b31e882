using System.Text;

namespace Tern.Chat;

/// <summary>
/// Attribute and item access as Jinja2's sandbox does it: <c>x.name</c> tries a Python attribute (a method such as
/// <c>items</c>) and then the item; <c>x[key]</c> tries the item and then the attribute. Misses give undefined;
/// using an undefined value raises.
/// </summary>
internal static class Access
{
    public static Value GetAttr(Renderer renderer, Value target, string name)
    {
        if (target is UndefinedValue undefined)
            throw new TemplateException(undefined.Message);
        if (Methods.Has(target, name))
            return new BoundMethod(target, name);
        return LookupItem(renderer, target, StringValue.Of(name)) ?? UndefinedValue.Missing(target, StringValue.Of(name));
    }

    /// <summary>Python's getattr alone (the attr filter): methods, namespace and loop attributes, never dict items.</summary>
    public static Value GetAttrOnly(Renderer renderer, Value target, string name)
    {
        if (target is UndefinedValue undefined)
            throw new TemplateException(undefined.Message);
        if (Methods.Has(target, name))
            return new BoundMethod(target, name);
        var attribute = target is NamespaceValue or LoopValue ? LookupItem(renderer, target, StringValue.Of(name)) : null;
        return attribute ?? UndefinedValue.Missing(target, StringValue.Of(name));
    }

    public static Value GetItem(Renderer renderer, Value target, Value key)
    {
        if (target is UndefinedValue undefined)
            throw new TemplateException(undefined.Message);
        var item = LookupItem(renderer, target, key);
        if (item is not null)
            return item;
        if (key is StringValue name && Methods.Has(target, name.Value))
            return new BoundMethod(target, name.Value);
        return UndefinedValue.Missing(target, key);
    }

    /// <summary>The item (or, for namespaces and loops, the attribute) at <paramref name="key"/>, or null.</summary>
    private static Value? LookupItem(Renderer renderer, Value target, Value key)
    {
        switch (target)
        {
            case DictValue dict:
                if (key is ListValue { IsTuple: false } or DictValue)
                    return null; // unhashable: Jinja2 turns the TypeError into undefined
                return dict.Items.TryGetValue(key, out var value) ? value : null;
            case ListValue list:
                return TryIndex(key, list.Items.Count, out int i) ? list.Items[i] : null;
            case StringValue s:
                renderer.Scan(s.Value.Length); // code points are counted from the start
                if (!TryIndex(key, PyStr.Length(s.Value), out int c))
                    return null;
                return StringValue.Of(PyStr.CharAt(s.Value, c));
            case RangeValue range:
                return TryIndex(key, range.Count, out int r) ? range[r] : null;
            case NamespaceValue ns:
                return key is StringValue attr && ns.Attributes.TryGetValue(attr.Value, out var nsValue) ? nsValue : null;
            case LoopValue loop:
                return key is StringValue loopAttr ? loop.Attribute(loopAttr.Value) : null;
            default:
                return null;
        }
    }

    private static bool TryIndex(Value key, int count, out int index)
    {
        long i;
        switch (key)
        {
            case IntValue n:
                i = n.Value;
                break;
            case BoolValue b:
                i = b.Value ? 1 : 0;
                break;
            default:
                index = 0;
                return false;
        }
        if (i < 0)
            i += count;
        index = (int)Math.Clamp(i, -1, int.MaxValue);
        return i >= 0 && i < count;
    }

    /// <summary>Python's <c>x[start:stop:step]</c> on lists, tuples, strings and ranges.</summary>
    public static Value Slice(Renderer renderer, Value target, Value start, Value stop, Value step)
    {
        if (target is UndefinedValue undefined)
            throw new TemplateException(undefined.Message);
        if (target is not (ListValue or StringValue or RangeValue))
            throw new TemplateException(target is DictValue ? "unhashable type: 'slice'" : $"'{target.TypeName}' object is not subscriptable");
        if (!TryBound(step, out long? stepOr) || !TryBound(start, out long? startOr) || !TryBound(stop, out long? stopOr))
            throw new TemplateException("slice indices must be integers or None or have an __index__ method");
        long stride = stepOr ?? 1;
        if (stride == 0)
            throw new TemplateException("slice step cannot be zero");
        switch (target)
        {
            case ListValue list:
                var items = Indices(list.Items.Count, startOr, stopOr, stride).ToList();
                renderer.Allocated(items.Count);
                return new ListValue(items.ConvertAll(i => list.Items[i]), list.IsTuple);
            case StringValue s:
                string slice = SliceString(renderer, s.Value, startOr, stopOr, stride);
                renderer.Produced(slice.Length);
                return StringValue.Of(slice);
            default:
                var range = (RangeValue)target;
                var picked = Indices(range.Count, startOr, stopOr, stride).ToList();
                long first = picked.Count > 0 ? range.Start + picked[0] * range.Step : range.Start;
                long newStep = range.Step * stride;
                return new RangeValue(first, first + picked.Count * newStep, newStep);
        }
    }

    private static string SliceString(Renderer renderer, string s, long? startOr, long? stopOr, long stride)
    {
        if (PyStr.HasSurrogates(s))
        {
            renderer.Allocated(s.Length); // one string per code point
            var chars = PyStr.Chars(s);
            return string.Concat(Indices(chars.Length, startOr, stopOr, stride).Select(i => chars[i].Value));
        }
        renderer.Scan(s.Length);
        if (stride == 1)
        {
            long start = Adjust(startOr, s.Length, 1, 0), stop = Adjust(stopOr, s.Length, 1, s.Length);
            return stop > start ? s.Substring((int)start, (int)(stop - start)) : "";
        }
        var sb = new StringBuilder();
        foreach (int i in Indices(s.Length, startOr, stopOr, stride))
            sb.Append(s[i]);
        return sb.ToString();
    }

    private static bool TryBound(Value v, out long? bound)
    {
        bound = v switch
        {
            IntValue i => i.Value,
            BoolValue b => b.Value ? 1 : 0,
            _ => null,
        };
        return bound is not null || v is NoneValue;
    }

    private static IEnumerable<int> Indices(int length, long? startOr, long? stopOr, long step)
    {
        long start = Adjust(startOr, length, step, step < 0 ? length - 1 : 0);
        long stop = Adjust(stopOr, length, step, step < 0 ? -1 : length);
        if (step > 0)
        {
            for (long i = start; i < stop; i += step)
                yield return (int)i;
        }
        else
        {
            for (long i = start; i > stop; i += step)
                yield return (int)i;
        }
    }

    private static long Adjust(long? index, int length, long step, long fallback)
    {
        if (index is not long i)
            return fallback;
        if (i < 0)
        {
            i += length;
            if (i < 0)
                i = step < 0 ? -1 : 0;
        }
        else if (i >= length)
        {
            i = step < 0 ? length - 1 : length;
        }
        return i;
    }
}
