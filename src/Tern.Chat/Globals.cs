namespace Tern.Chat;

/// <summary>
/// The functions every template sees: Jinja2's range, dict, namespace and joiner, plus Hugging Face's
/// raise_exception(msg) and strftime_now(format).
/// </summary>
internal static class Globals
{
    public static Scope Create()
    {
        var scope = new Scope(null);
        Add(scope, "range", Range);
        Add(scope, "dict", Dict);
        Add(scope, "namespace", Namespace);
        Add(scope, "joiner", (_, args) => Joiner(args));
        Add(scope, "raise_exception", (_, args) => throw new TemplateException(
            Formatting.Str(args.Get(0, "message") ?? StringValue.Empty), kind: TemplateErrorKind.Raised));
        Add(scope, "strftime_now", StrftimeNow);
        return scope;
    }

    private static void Add(Scope scope, string name, Func<Renderer, CallArgs, Value> body) =>
        scope.Set(name, new BuiltinFunction(name, body));

    private static Value StrftimeNow(Renderer renderer, CallArgs args)
    {
        string text = Strftime.Format(renderer.Clock.GetLocalNow(), Formatting.Str(args.Get(0, "format") ?? StringValue.Empty));
        renderer.Produced(text.Length);
        return StringValue.Of(text);
    }

    private static Value Range(Renderer renderer, CallArgs args)
    {
        var numbers = args.Positional.Select(v => Operators.TryInt(v, out long n)
            ? n
            : throw new TemplateException($"'{v.TypeName}' object cannot be interpreted as an integer")).ToArray();
        return numbers.Length switch
        {
            1 => new RangeValue(0, numbers[0], 1),
            2 => new RangeValue(numbers[0], numbers[1], 1),
            3 => new RangeValue(numbers[0], numbers[1], numbers[2]),
            _ => throw new TemplateException($"range expected at most 3 arguments, got {numbers.Length}"),
        };
    }

    private static DictValue Dict(Renderer renderer, CallArgs args)
    {
        var dict = new DictValue(renderer.Keys);
        foreach (var source in args.Positional)
        {
            switch (source)
            {
                case DictValue other:
                    foreach (var (key, value) in other.Items)
                        dict.Items[key] = value;
                    break;
                case ListValue pairs:
                    foreach (var pair in pairs.Items)
                    {
                        if (pair is not ListValue { Items.Count: 2 } kv)
                            throw new TemplateException("dictionary update sequence element has wrong length; 2 is required");
                        dict.Items[kv.Items[0]] = kv.Items[1];
                    }
                    break;
                default:
                    throw new TemplateException($"'{source.TypeName}' object is not iterable");
            }
        }
        foreach (var (key, value) in args.Named)
            dict.Set(key, value);
        return dict;
    }

    private static NamespaceValue Namespace(Renderer renderer, CallArgs args)
    {
        var ns = new NamespaceValue();
        foreach (var (key, value) in Dict(renderer, args).Items)
            ns.Attributes[Formatting.Str(key)] = value;
        return ns;
    }

    private static BuiltinFunction Joiner(CallArgs args)
    {
        string separator = Formatting.Str(args.Get(0, "sep") ?? StringValue.Of(", "));
        bool used = false;
        return new BuiltinFunction("joiner", (_, _) =>
        {
            if (!used)
            {
                used = true;
                return StringValue.Empty;
            }
            return StringValue.Of(separator);
        });
    }
}
