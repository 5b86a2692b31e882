using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Tern.Chat;

/// <summary>
/// Jinja2's built-in filters with Hugging Face's <c>tojson</c>. Filters that Jinja2 implements as generators
/// (map, select, reject, selectattr, rejectattr, unique, items, batch) return one-shot iterators, so templates see the
/// same values they would under Jinja2 (for example, <c>x|map(...)|tojson</c> fails there and here).
/// </summary>
internal static partial class Filters
{
    private delegate Value Filter(Renderer renderer, Value input, CallArgs args);

    private static readonly Dictionary<string, Filter> All = new(StringComparer.Ordinal)
    {
        ["abs"] = Abs,
        ["attr"] = (r, v, a) => Access.GetAttrOnly(r, v, Formatting.Str(Required(a, 0, "name"))),
        ["batch"] = Batch,
        ["capitalize"] = (_, v, _) => StringValue.Of(PyStr.Capitalize(Formatting.Str(v))),
        ["center"] = (_, v, a) => StringValue.Of(PyStr.Pad(Formatting.Str(v), IntArg(a, 0, "width", 80), ' ', '^')),
        ["count"] = (_, v, _) => IntValue.Of(Length(v)),
        ["d"] = Default,
        ["default"] = Default,
        ["dictsort"] = DictSort,
        ["e"] = (_, v, _) => Escape(v),
        ["escape"] = (_, v, _) => Escape(v),
        ["first"] = First,
        ["float"] = ToFloat,
        ["forceescape"] = (_, v, _) => new StringValue(PyStr.HtmlEscape(Formatting.Str(v)), isMarkup: true),
        ["format"] = Format,
        ["indent"] = Indent,
        ["int"] = ToInt,
        ["items"] = Items,
        ["join"] = Join,
        ["last"] = Last,
        ["length"] = (_, v, _) => IntValue.Of(Length(v)),
        ["list"] = (r, v, _) => new ListValue(Iteration.ToList(r, v)),
        ["lower"] = (_, v, _) => StringValue.Of(Formatting.Str(v).ToLowerInvariant()),
        ["map"] = Map,
        ["max"] = (r, v, a) => MinOrMax(r, v, a, max: true),
        ["min"] = (r, v, a) => MinOrMax(r, v, a, max: false),
        ["pprint"] = (_, v, _) => StringValue.Of(Formatting.Repr(v)),
        ["reject"] = (r, v, a) => SelectOrReject(r, v, a, lookupAttribute: false, keep: false),
        ["rejectattr"] = (r, v, a) => SelectOrReject(r, v, a, lookupAttribute: true, keep: false),
        ["replace"] = Replace,
        ["reverse"] = Reverse,
        ["round"] = Round,
        ["safe"] = (_, v, _) => v is StringValue { IsMarkup: true } ? v : new StringValue(Formatting.Str(v), isMarkup: true),
        ["select"] = (r, v, a) => SelectOrReject(r, v, a, lookupAttribute: false, keep: true),
        ["selectattr"] = (r, v, a) => SelectOrReject(r, v, a, lookupAttribute: true, keep: true),
        ["sort"] = Sort,
        ["string"] = (_, v, _) => v is StringValue ? v : StringValue.Of(Formatting.Str(v)),
        ["sum"] = Sum,
        ["title"] = (_, v, _) => StringValue.Of(JinjaTitle(Formatting.Str(v))),
        ["tojson"] = ToJson,
        ["trim"] = (_, v, a) => StringValue.Of(PyStr.Strip(Formatting.Str(v), OptionalString(a, 0, "chars"), true, true)),
        ["truncate"] = Truncate,
        ["unique"] = Unique,
        ["upper"] = (_, v, _) => StringValue.Of(Formatting.Str(v).ToUpperInvariant()),
        ["wordcount"] = (_, v, _) => IntValue.Of(WordPattern().Count(Formatting.Str(v))),
    };

    /// <summary>Filters that return their input, an argument or one of its items, never a string or list they build.</summary>
    private static readonly HashSet<string> Selecting = ["attr", "d", "default", "first", "last", "max", "min"];

    public static bool Exists(string name) => All.ContainsKey(name);

    /// <summary>
    /// Applies a filter; <paramref name="inTemplate"/> is true for <c>x|name</c> in the source, false for map('name').
    /// A filter is charged for searching its input text for its longest text argument, and for the string or list
    /// it builds; filters over sequences are charged per item as they iterate.
    /// </summary>
    public static Value Apply(Renderer renderer, string name, Value input, CallArgs args, bool inTemplate = false)
    {
        if (!All.TryGetValue(name, out var filter))
            throw new TemplateException($"No filter named '{name}'{(inTemplate ? " found" : "")}.");
        renderer.Search(input is StringValue text ? text.Value.Length : 0, LongestText(args));
        var result = filter(renderer, input, args);
        if (!Selecting.Contains(name) && !ReferenceEquals(result, input))
        {
            if (result is StringValue built)
                renderer.Produced(built.Value.Length);
            else if (result is ListValue list)
                renderer.Allocated(list.Items.Count);
        }
        return result;
    }

    /// <summary>The length of the longest string argument of a call (what a search or strip may have to match).</summary>
    public static long LongestText(CallArgs args) =>
        args.Positional.Concat(args.Named.Values).Select(a => a is StringValue s ? s.Value.Length : 0).DefaultIfEmpty(0).Max();

    // ---- argument helpers ----

    private static Value Required(CallArgs args, int index, string name) =>
        args.Get(index, name) ?? throw new TemplateException($"missing required argument '{name}'");

    private static bool BoolArg(CallArgs args, int index, string name, bool fallback = false) =>
        args.Get(index, name)?.IsTruthy ?? fallback;

    private static long IntArg(CallArgs args, int index, string name, long fallback)
    {
        var v = args.Get(index, name);
        if (v is null or NoneValue)
            return fallback;
        return Operators.TryInt(v, out long n) ? n : throw new TemplateException($"'{v.TypeName}' object cannot be interpreted as an integer");
    }

    private static string? OptionalString(CallArgs args, int index, string name) =>
        args.Get(index, name) is { } v and not NoneValue ? Formatting.Str(v) : null;

    /// <summary>Jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0; the default replaces undefined.</summary>
    private static Func<Value, Value> AttrGetter(Renderer renderer, Value? attribute, Value? fallback = null, bool ignoreCase = false)
    {
        Value[] parts = attribute switch
        {
            null or NoneValue => [],
            StringValue s => s.Value.Split('.').Select(p => p.Length > 0 && p.All(char.IsAsciiDigit)
                ? (Value)IntValue.Of(long.Parse(p, CultureInfo.InvariantCulture)) : StringValue.Of(p)).ToArray(),
            _ => [attribute],
        };
        return item =>
        {
            foreach (var part in parts)
            {
                item = Access.GetItem(renderer, item, part);
                if (fallback is not null && item is UndefinedValue)
                    item = fallback;
            }
            if (!ignoreCase || item is not StringValue str)
                return item;
            renderer.Produced(str.Value.Length);
            return StringValue.Of(str.Value.ToLowerInvariant());
        };
    }

    // ---- filters ----

    private static StringValue Escape(Value v) =>
        v as StringValue is { IsMarkup: true } markup ? markup : new StringValue(PyStr.HtmlEscape(Formatting.Str(v)), isMarkup: true);

    private static Value Abs(Renderer renderer, Value v, CallArgs args) => v switch
    {
        IntValue i => IntValue.Of(Math.Abs(i.Value)),
        BoolValue b => IntValue.Of(b.Value ? 1 : 0),
        FloatValue f => new FloatValue(Math.Abs(f.Value)),
        _ => throw new TemplateException($"bad operand type for abs(): '{v.TypeName}'"),
    };

    private static Value Default(Renderer renderer, Value v, CallArgs args)
    {
        var fallback = args.Get(0, "default_value") ?? StringValue.Empty;
        return v is UndefinedValue || (BoolArg(args, 1, "boolean") && !v.IsTruthy) ? fallback : v;
    }

    /// <summary>Python's len().</summary>
    public static long Length(Value v) => v switch
    {
        StringValue s => PyStr.Length(s.Value),
        ListValue l => l.Items.Count,
        DictValue d => d.Items.Count,
        RangeValue r => r.Count,
        UndefinedValue => 0,
        _ => throw new TemplateException($"object of type '{v.TypeName}' has no len()"),
    };

    private static Value First(Renderer renderer, Value v, CallArgs args)
    {
        foreach (var item in Iteration.Iterate(renderer, v))
            return item;
        return UndefinedValue.Hint("No first item, sequence was empty.");
    }

    private static Value Last(Renderer renderer, Value v, CallArgs args)
    {
        var items = v switch
        {
            ListValue or DictValue or StringValue or RangeValue or UndefinedValue => Iteration.Materialize(renderer, v),
            _ => throw new TemplateException($"'{v.TypeName}' object is not reversible"),
        };
        return items.Count > 0 ? items[^1] : UndefinedValue.Hint("No last item, sequence was empty.");
    }

    private static Value Join(Renderer renderer, Value v, CallArgs args)
    {
        string separator = Formatting.Str(args.Get(0, "d") ?? StringValue.Empty);
        var getter = AttrGetter(renderer, args.Get(1, "attribute"));
        var sb = new StringBuilder();
        bool first = true;
        foreach (var item in Iteration.Iterate(renderer, v))
        {
            if (!first)
                sb.Append(separator);
            first = false;
            sb.Append(Formatting.Str(getter(item)));
            renderer.CheckLength(sb.Length);
        }
        return StringValue.Of(sb.ToString());
    }

    private static Value Replace(Renderer renderer, Value v, CallArgs args)
    {
        string result = PyStr.Replace(Formatting.Str(v), Formatting.Str(Required(args, 0, "old")), Formatting.Str(Required(args, 1, "new")),
            IntArg(args, 2, "count", -1));
        return StringValue.Of(result);
    }

    private static Value Indent(Renderer renderer, Value v, CallArgs args)
    {
        var width = args.Get(0, "width") ?? IntValue.Of(4);
        string indentation = width is StringValue ws ? ws.Value : new string(' ', (int)Math.Clamp(IntArg(args, 0, "width", 4), 0, 4096));
        bool first = BoolArg(args, 1, "first"), blank = BoolArg(args, 2, "blank");
        // Jinja2 does `s += "\n"` on the raw value, so non-strings fail as they do there
        var lines = PyStr.SplitLines(v switch
        {
            StringValue s => s.Value + "\n",
            UndefinedValue u => throw new TemplateException(u.Message),
            ListValue { IsTuple: false } => throw new TemplateException("'list' object has no attribute 'splitlines'"),
            ListValue => throw new TemplateException("can only concatenate tuple (not \"str\") to tuple"),
            _ => throw new TemplateException($"unsupported operand type(s) for +=: '{v.TypeName}' and 'str'"),
        });
        renderer.CheckLength(lines.Sum(line => (long)line.Length + indentation.Length + 1));
        string result;
        if (blank)
        {
            result = string.Join("\n" + indentation, lines);
        }
        else
        {
            result = lines[0];
            if (lines.Count > 1)
                result += "\n" + string.Join("\n", lines.Skip(1).Select(line => line.Length > 0 ? indentation + line : line));
        }
        if (first)
            result = indentation + result;
        return StringValue.Of(result);
    }

    private static Value Truncate(Renderer renderer, Value v, CallArgs args)
    {
        long length = IntArg(args, 0, "length", 255);
        bool killWords = BoolArg(args, 1, "killwords");
        string end = Formatting.Str(args.Get(2, "end") ?? StringValue.Of("..."));
        long leeway = IntArg(args, 3, "leeway", 5);
        if (length < end.Length)
            throw new TemplateException($"expected length >= {end.Length}, got {length}");
        // Jinja2 measures and slices the raw value: short containers come back unchanged
        if (Length(v) <= length + leeway)
            return v;
        if (v is not StringValue text)
            throw new TemplateException($"'{v.TypeName}' object has no attribute 'rsplit'");
        string s = text.Value;
        var chars = CodePoints(renderer, s);
        string head = string.Concat(chars.Take((int)(length - end.Length)).Select(c => c.Value));
        if (!killWords)
        {
            int space = head.LastIndexOf(' ');
            head = space >= 0 ? head[..space] : head;
        }
        return StringValue.Of(head + end);
    }

    private static Value Format(Renderer renderer, Value v, CallArgs args)
    {
        if (args.Positional.Count > 0 && args.Named.Count > 0)
            throw new TemplateException("can't handle positional and keyword arguments at the same time");
        Value formatArgs;
        if (args.Named.Count > 0)
        {
            var mapping = new DictValue(renderer.Keys);
            foreach (var (key, value) in args.Named)
                mapping.Set(key, value);
            formatArgs = mapping;
        }
        else
        {
            formatArgs = new ListValue([.. args.Positional], isTuple: true);
        }
        return StringValue.Of(Printf.Format(renderer, Formatting.Str(v), formatArgs));
    }

    private static Value ToInt(Renderer renderer, Value v, CallArgs args)
    {
        var fallback = args.Get(0, "default") ?? IntValue.Of(0);
        long numberBase = IntArg(args, 1, "base", 10);
        switch (v)
        {
            case IntValue:
                return v;
            case BoolValue b:
                return IntValue.Of(b.Value ? 1 : 0);
            case FloatValue f:
                return double.IsFinite(f.Value) ? IntValue.Of((long)Math.Truncate(f.Value)) : fallback;
            case StringValue s:
                if (Numbers.TryParseInt(s.Value, (int)numberBase, out long parsed))
                    return IntValue.Of(parsed);
                return Numbers.TryParseFloat(s.Value, out double d) && double.IsFinite(d) ? IntValue.Of((long)Math.Truncate(d)) : fallback;
            case UndefinedValue u:
                throw new TemplateException(u.Message);
            default:
                return fallback;
        }
    }

    private static Value ToFloat(Renderer renderer, Value v, CallArgs args)
    {
        var fallback = args.Get(0, "default") ?? new FloatValue(0);
        return v switch
        {
            IntValue or BoolValue or FloatValue => new FloatValue(Operators.ToDouble(v)),
            StringValue s => Numbers.TryParseFloat(s.Value, out double d) ? new FloatValue(d) : fallback,
            UndefinedValue u => throw new TemplateException(u.Message),
            _ => fallback,
        };
    }

    private static Value Round(Renderer renderer, Value v, CallArgs args)
    {
        long precision = IntArg(args, 0, "precision", 0);
        string method = Formatting.Str(args.Get(1, "method") ?? StringValue.Of("common"));
        if (method is not ("common" or "ceil" or "floor"))
            throw new TemplateException("method must be common, ceil or floor");
        if (!Operators.IsNumber(v))
            throw new TemplateException($"type {v.TypeName} doesn't define __round__ method");
        if (method == "common" && v is not FloatValue)
            return IntValue.Of(Operators.TryInt(v, out long n) ? n : 0);
        double x = Operators.ToDouble(v);
        double scale = Math.Pow(10, precision);
        return new FloatValue(method switch
        {
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => precision is >= 0 and <= 15 ? Math.Round(x, (int)precision, MidpointRounding.ToEven)
                : Math.Round(x * scale, MidpointRounding.ToEven) / scale,
        });
    }

    private static Value ToJson(Renderer renderer, Value v, CallArgs args)
    {
        // Hugging Face's tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
        var indentArg = args.Get(1, "indent");
        string? indent = indentArg switch
        {
            null or NoneValue => null,
            StringValue s => s.Value,
            _ when Operators.TryInt(indentArg, out long n) => new string(' ', (int)Math.Clamp(n, 0, 4096)),
            _ => throw new TemplateException($"indent must be an int or a string, not {indentArg.TypeName}"),
        };
        string? itemSeparator = null, keySeparator = null;
        if (args.Get(2, "separators") is ListValue { Items.Count: 2 } separators)
        {
            itemSeparator = Formatting.Str(separators.Items[0]);
            keySeparator = Formatting.Str(separators.Items[1]);
        }
        var options = new Json.DumpOptions(BoolArg(args, 0, "ensure_ascii"), indent, itemSeparator, keySeparator, BoolArg(args, 3, "sort_keys"));
        return StringValue.Of(Json.Dumps(v, options, renderer.MaxStringLength));
    }

    /// <summary>The code points of <paramref name="s"/> as one string each, charged as a list of that length.</summary>
    private static StringValue[] CodePoints(Renderer renderer, string s)
    {
        renderer.Allocated(s.Length);
        return PyStr.Chars(s);
    }

    /// <summary>Jinja2's title filter: each run after -, whitespace, (, {, [ or &lt; starts upper case, the rest lower.</summary>
    private static string JinjaTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool runStart = true;
        bool inSeparator = false;
        foreach (char c in s)
        {
            bool separator = c is '-' or '(' or '{' or '[' or '<' || PyStr.IsWhitespace(c);
            if (separator != inSeparator)
                runStart = true;
            inSeparator = separator;
            sb.Append(runStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            runStart = false;
        }
        return sb.ToString();
    }

    [GeneratedRegex(@"\w+")]
    private static partial Regex WordPattern();
}
