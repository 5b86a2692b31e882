using System.Text;

namespace Tern.Chat;

/// <summary>The Python str, list and dict methods templates call (<c>s.strip()</c>, <c>d.items()</c>, <c>l.append(x)</c>).</summary>
internal static class Methods
{
    private static readonly HashSet<string> StringMethods =
    [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "replace", "upper",
        "lower", "title", "capitalize", "swapcase", "casefold", "find", "rfind", "index", "rindex", "count", "join",
        "format", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "isupper", "islower", "zfill",
        "center", "ljust", "rjust", "partition", "rpartition", "removeprefix", "removesuffix",
    ];

    private static readonly HashSet<string> ListMethods =
        ["append", "extend", "pop", "insert", "remove", "index", "count", "copy", "reverse", "sort", "clear"];

    private static readonly HashSet<string> TupleMethods = ["index", "count"];

    private static readonly HashSet<string> DictMethods = ["items", "keys", "values", "get", "copy"];

    public static bool Has(Value target, string name) => target switch
    {
        StringValue => StringMethods.Contains(name),
        ListValue { IsTuple: true } => TupleMethods.Contains(name),
        ListValue => ListMethods.Contains(name),
        DictValue => DictMethods.Contains(name),
        _ => false,
    };

    public static Value Invoke(Renderer renderer, Value target, string name, CallArgs args) => target switch
    {
        StringValue s => InvokeString(renderer, s, name, args),
        ListValue list => InvokeList(renderer, list, name, args),
        DictValue dict => InvokeDict(renderer, dict, name, args),
        _ => throw new TemplateException($"'{target.TypeName}' object has no attribute '{name}'"),
    };

    private static Value Arg(CallArgs args, int index, string name) =>
        args.Get(index, name) ?? throw new TemplateException($"missing required argument '{name}'");

    private static string? OptionalString(CallArgs args, int index, string name) => args.Get(index, name) switch
    {
        null or NoneValue => null,
        StringValue s => s.Value,
        var v => throw new TemplateException($"must be str or None, not {v.TypeName}"),
    };

    private static string StringArg(CallArgs args, int index, string name) => Arg(args, index, name) switch
    {
        StringValue s => s.Value,
        var v => throw new TemplateException($"must be str, not {v.TypeName}"),
    };

    private static long IntArg(CallArgs args, int index, string name, long fallback) => args.Get(index, name) switch
    {
        null or NoneValue => fallback,
        var v when Operators.TryInt(v, out long n) => n,
        var v => throw new TemplateException($"'{v.TypeName}' object cannot be interpreted as an integer"),
    };

    /// <summary>
    /// A str method, charged for searching the text for its longest text argument and for the string it builds.
    /// </summary>
    private static Value InvokeString(Renderer renderer, StringValue text, string name, CallArgs args)
    {
        renderer.Search(text.Value.Length, Filters.LongestText(args));
        var result = StringMethod(renderer, text.Value, name, args);
        if (result is StringValue built && !ReferenceEquals(built.Value, text.Value))
            renderer.Produced(built.Value.Length);
        else if (result is ListValue parts)
            renderer.Allocated(parts.Items.Count);
        return result;
    }

    private static Value StringMethod(Renderer renderer, string s, string name, CallArgs args)
    {
        switch (name)
        {
            case "strip": return Str(PyStr.Strip(s, OptionalString(args, 0, "chars"), true, true));
            case "lstrip": return Str(PyStr.Strip(s, OptionalString(args, 0, "chars"), true, false));
            case "rstrip": return Str(PyStr.Strip(s, OptionalString(args, 0, "chars"), false, true));
            case "split": return StrList(PyStr.Split(s, OptionalString(args, 0, "sep"), IntArg(args, 1, "maxsplit", -1)));
            case "rsplit": return StrList(PyStr.RSplit(s, OptionalString(args, 0, "sep"), IntArg(args, 1, "maxsplit", -1)));
            case "splitlines": return StrList(PyStr.SplitLines(s, args.Get(0, "keepends")?.IsTruthy ?? false));
            case "startswith": return Value.Bool(Affixes(renderer, args).Any(p => Window(renderer, s, args).StartsWith(p, StringComparison.Ordinal)));
            case "endswith": return Value.Bool(Affixes(renderer, args).Any(p => Window(renderer, s, args).EndsWith(p, StringComparison.Ordinal)));
            case "replace": return Str(PyStr.Replace(s, StringArg(args, 0, "old"), StringArg(args, 1, "new"), IntArg(args, 2, "count", -1)));
            case "upper": return Str(s.ToUpperInvariant());
            case "lower" or "casefold": return Str(s.ToLowerInvariant());
            case "title": return Str(PyStr.Title(s));
            case "capitalize": return Str(PyStr.Capitalize(s));
            case "swapcase": return Str(PyStr.SwapCase(s));
            case "find" or "index": return Find(renderer, s, args, last: false, raise: name == "index");
            case "rfind" or "rindex": return Find(renderer, s, args, last: true, raise: name == "rindex");
            case "count": return IntValue.Of(Count(Window(renderer, s, args), StringArg(args, 0, "sub")));
            case "join": return Join(renderer, s, Arg(args, 0, "iterable"));
            case "format": return Str(Printf.StrFormat(renderer, s, args));
            case "isdigit" or "isdecimal" or "isnumeric": return Value.Bool(s.Length > 0 && s.All(char.IsDigit));
            case "isalpha": return Value.Bool(s.Length > 0 && s.All(char.IsLetter));
            case "isalnum": return Value.Bool(s.Length > 0 && s.All(char.IsLetterOrDigit));
            case "isspace": return Value.Bool(s.Length > 0 && s.All(PyStr.IsWhitespace));
            case "isupper": return Value.Bool(s.Any(char.IsUpper) && !s.Any(char.IsLower));
            case "islower": return Value.Bool(s.Any(char.IsLower) && !s.Any(char.IsUpper));
            case "zfill":
                long width = IntArg(args, 0, "width", 0);
                string sign = s.Length > 0 && s[0] is '+' or '-' ? s[..1] : "";
                return Str(sign + PyStr.Pad(s[sign.Length..], width - sign.Length, '0', '>'));
            case "center": return Str(PyStr.Pad(s, IntArg(args, 0, "width", 0), FillChar(args), '^'));
            case "ljust": return Str(PyStr.Pad(s, IntArg(args, 0, "width", 0), FillChar(args), '<'));
            case "rjust": return Str(PyStr.Pad(s, IntArg(args, 0, "width", 0), FillChar(args), '>'));
            case "partition" or "rpartition":
                string sep = StringArg(args, 0, "sep");
                if (sep.Length == 0)
                    throw new TemplateException("empty separator");
                int at = name == "partition" ? s.IndexOf(sep, StringComparison.Ordinal) : s.LastIndexOf(sep, StringComparison.Ordinal);
                if (at < 0)
                    return name == "partition" ? ListValue.Tuple(Str(s), Str(""), Str("")) : ListValue.Tuple(Str(""), Str(""), Str(s));
                return ListValue.Tuple(Str(s[..at]), Str(sep), Str(s[(at + sep.Length)..]));
            case "removeprefix":
                string prefix = StringArg(args, 0, "prefix");
                return Str(s.StartsWith(prefix, StringComparison.Ordinal) ? s[prefix.Length..] : s);
            case "removesuffix":
                string suffix = StringArg(args, 0, "suffix");
                return Str(suffix.Length > 0 && s.EndsWith(suffix, StringComparison.Ordinal) ? s[..^suffix.Length] : s);
            default:
                throw new TemplateException($"'str' object has no attribute '{name}'");
        }
    }

    private static StringValue Str(string s) => StringValue.Of(s);

    private static ListValue StrList(List<string> parts) => new(parts.Select(p => (Value)StringValue.Of(p)).ToList());

    private static char FillChar(CallArgs args) => args.Get(1, "fillchar") is StringValue { Value.Length: 1 } f ? f.Value[0] : ' ';

    private static IEnumerable<string> Affixes(Renderer renderer, CallArgs args) => Arg(args, 0, "prefix") switch
    {
        StringValue s => [s.Value],
        ListValue { IsTuple: true } t => t.Items.Select(i => i is StringValue s ? Charged(renderer, s.Value)
            : throw new TemplateException($"tuple for startswith must only contain str, not {i.TypeName}")),
        var v => throw new TemplateException($"startswith first arg must be str or a tuple of str, not {v.TypeName}"),
    };

    /// <summary>The part of <paramref name="s"/> between the optional start and end arguments (positions 1 and 2).</summary>
    private static string Charged(Renderer renderer, string affix)
    {
        renderer.Scan(affix.Length);
        renderer.Step();
        return affix;
    }

    private static string Window(Renderer renderer, string s, CallArgs args)
    {
        var start = args.Get(1, "start");
        var end = args.Get(2, "end");
        if (start is null or NoneValue && end is null or NoneValue)
            return s;
        return ((StringValue)Access.Slice(renderer, StringValue.Of(s), start ?? NoneValue.Instance, end ?? NoneValue.Instance, NoneValue.Instance)).Value;
    }

    private static Value Find(Renderer renderer, string s, CallArgs args, bool last, bool raise)
    {
        string sub = StringArg(args, 0, "sub");
        long offset = 0;
        var start = args.Get(1, "start");
        if (start is not null and not NoneValue && Operators.TryInt(start, out long st))
            offset = st < 0 ? Math.Max(0, PyStr.Length(s) + st) : Math.Min(st, PyStr.Length(s));
        string window = Window(renderer, s, args);
        int at = last ? window.LastIndexOf(sub, StringComparison.Ordinal) : window.IndexOf(sub, StringComparison.Ordinal);
        if (at < 0)
            return raise ? throw new TemplateException("substring not found") : IntValue.Of(-1);
        return IntValue.Of(offset + PyStr.CodePointIndex(window, at));
    }

    private static long Count(string s, string sub) => sub.Length == 0 ? PyStr.Length(s) + 1 : PyStr.CountOccurrences(s, sub);

    private static Value Join(Renderer renderer, string separator, Value iterable)
    {
        var sb = new StringBuilder();
        int index = 0;
        foreach (var item in Iteration.Iterate(renderer, iterable))
        {
            if (item is not StringValue s)
                throw new TemplateException($"sequence item {index}: expected str instance, {item.TypeName} found");
            if (index++ > 0)
                sb.Append(separator);
            sb.Append(s.Value);
            renderer.CheckLength(sb.Length);
        }
        return StringValue.Of(sb.ToString());
    }

    /// <summary>A list method, charged for the items it adds, moves or compares.</summary>
    private static Value InvokeList(Renderer renderer, ListValue list, string name, CallArgs args)
    {
        var items = list.Items;
        switch (name)
        {
            case "append":
                renderer.Allocated(1);
                items.Add(Arg(args, 0, "object"));
                return NoneValue.Instance;
            case "extend":
                var added = Iteration.ToList(renderer, Arg(args, 0, "iterable"));
                renderer.Allocated(added.Count);
                items.AddRange(added);
                return NoneValue.Instance;
            case "insert":
                long position = IntArg(args, 0, "index", 0);
                position = position < 0 ? Math.Max(0, items.Count + position) : Math.Min(position, items.Count);
                renderer.Allocated(1);
                renderer.Charge(items.Count - position);
                items.Insert((int)position, Arg(args, 1, "object"));
                return NoneValue.Instance;
            case "pop":
                if (items.Count == 0)
                    throw new TemplateException("pop from empty list");
                long index = IntArg(args, 0, "index", -1);
                index = index < 0 ? index + items.Count : index;
                if (index < 0 || index >= items.Count)
                    throw new TemplateException("pop index out of range");
                var popped = items[(int)index];
                renderer.Charge(items.Count - index);
                items.RemoveAt((int)index);
                return popped;
            case "remove":
                var removed = Arg(args, 0, "value");
                int found = items.FindIndex(x => Operators.AreEqual(renderer, x, removed));
                if (found < 0)
                    throw new TemplateException("list.remove(x): x not in list");
                renderer.Charge(items.Count - found);
                items.RemoveAt(found);
                return NoneValue.Instance;
            case "index":
                var wanted = Arg(args, 0, "value");
                int at = items.FindIndex(x => Operators.AreEqual(renderer, x, wanted));
                return at >= 0 ? IntValue.Of(at) : throw new TemplateException($"{Formatting.Repr(wanted)} is not in list");
            case "count":
                var counted = Arg(args, 0, "value");
                return IntValue.Of(items.Count(x => Operators.AreEqual(renderer, x, counted)));
            case "copy":
                renderer.Allocated(items.Count);
                return new ListValue([.. items]);
            case "reverse":
                renderer.Charge(items.Count);
                items.Reverse();
                return NoneValue.Instance;
            case "sort":
                var sorted = Filters.Apply(renderer, "sort", list, ReverseOnly(args));
                items.Clear();
                items.AddRange(((ListValue)sorted).Items);
                return NoneValue.Instance;
            case "clear":
                renderer.Charge(items.Count);
                items.Clear();
                return NoneValue.Instance;
            default:
                throw new TemplateException($"'{list.TypeName}' object has no attribute '{name}'");
        }
    }

    private static CallArgs ReverseOnly(CallArgs args)
    {
        var sortArgs = new CallArgs();
        sortArgs.Named["reverse"] = args.Named.GetValueOrDefault("reverse") ?? BoolValue.False;
        sortArgs.Named["case_sensitive"] = BoolValue.True;
        return sortArgs;
    }

    /// <summary>A dict method; those that build a list or dict are charged for its items.</summary>
    private static Value InvokeDict(Renderer renderer, DictValue dict, string name, CallArgs args)
    {
        if (name is "items" or "keys" or "values" or "copy")
            renderer.Allocated(dict.Items.Count);
        return name switch
        {
            "items" => new ListValue(dict.Items.Select(kv => (Value)ListValue.Tuple(kv.Key, kv.Value)).ToList()),
            "keys" => new ListValue([.. dict.Items.Keys]),
            "values" => new ListValue([.. dict.Items.Values]),
            "get" => dict.Items.TryGetValue(Arg(args, 0, "key"), out var value) ? value : args.Get(1, "default") ?? NoneValue.Instance,
            "copy" => Copy(dict),
            _ => throw new TemplateException($"'dict' object has no attribute '{name}'"),
        };
    }

    private static DictValue Copy(DictValue dict)
    {
        var copy = new DictValue(dict.Keys);
        foreach (var (key, value) in dict.Items)
            copy.Items[key] = value;
        return copy;
    }
}
