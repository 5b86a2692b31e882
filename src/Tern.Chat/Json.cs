using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tern.Chat;

/// <summary>
/// JSON to template values (objects keep their key order; integers stay int, numbers with a fraction or exponent
/// become float, as Python's json.loads does) and template values to JSON text with Python's
/// <c>json.dumps(x, ensure_ascii, indent, separators, sort_keys)</c> formatting.
/// </summary>
internal static class Json
{
    private const int MaxNesting = 500;

    /// <summary>A JSON input as a template value, each node charged one step of <paramref name="renderer"/>.</summary>
    public static Value FromNode(Renderer renderer, JsonNode? node)
    {
        renderer.Step();
        return node switch
        {
            null => NoneValue.Instance,
            JsonObject obj => FromObject(renderer, obj),
            JsonArray array => new ListValue(array.Select(item => FromNode(renderer, item)).ToList()),
            JsonValue value => FromValue(renderer, value),
            _ => throw new TemplateException($"unsupported JSON node {node.GetType().Name}"),
        };
    }

    private static DictValue FromObject(Renderer renderer, JsonObject obj)
    {
        var dict = new DictValue(renderer.Keys);
        foreach (var (key, value) in obj)
            dict.Set(key, FromNode(renderer, value));
        return dict;
    }

    private static Value FromValue(Renderer renderer, JsonValue value)
    {
        if (value.TryGetValue(out JsonElement element))
            return FromElement(renderer, element);
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                return StringValue.Of(value.TryGetValue(out string? text) ? text : JsonSerializer.Deserialize<string>(value.ToJsonString()) ?? "");
            case JsonValueKind.True:
                return BoolValue.True;
            case JsonValueKind.False:
                return BoolValue.False;
            case JsonValueKind.Null:
                return NoneValue.Instance;
            case JsonValueKind.Number:
                bool floating = value.TryGetValue(out double _) || value.TryGetValue(out float _) || value.TryGetValue(out decimal _);
                return Number(value.ToJsonString(), floating);
            default:
                return FromElement(renderer, JsonSerializer.SerializeToElement(value));
        }
    }

    private static Value FromElement(Renderer renderer, JsonElement element)
    {
        renderer.Step();
        return element.ValueKind switch
        {
            JsonValueKind.Object => FromProperties(renderer, element),
            JsonValueKind.Array => new ListValue(element.EnumerateArray().Select(item => FromElement(renderer, item)).ToList()),
            JsonValueKind.String => StringValue.Of(element.GetString()!),
            JsonValueKind.Number => Number(element.GetRawText(), floating: false),
            JsonValueKind.True => BoolValue.True,
            JsonValueKind.False => BoolValue.False,
            _ => NoneValue.Instance,
        };
    }

    private static DictValue FromProperties(Renderer renderer, JsonElement element)
    {
        var dict = new DictValue(renderer.Keys);
        foreach (var property in element.EnumerateObject())
            dict.Set(property.Name, FromElement(renderer, property.Value));
        return dict;
    }

    private static Value Number(string text, bool floating)
    {
        if (!floating && text.AsSpan().IndexOfAny('.', 'e', 'E') < 0
            && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long integer))
            return IntValue.Of(integer);
        return new FloatValue(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    /// <summary>Python's json.dumps options; <see cref="Indent"/> null means one line.</summary>
    public sealed record DumpOptions(bool EnsureAscii = false, string? Indent = null, string? ItemSeparator = null,
        string? KeySeparator = null, bool SortKeys = false);

    public static string Dumps(Value value, DumpOptions options, long maxLength = PyStr.MaxBuiltLength)
    {
        var writer = new Writer(options, maxLength);
        writer.Write(value, 0);
        return writer.ToString();
    }

    /// <summary>Python's json encoder over template values, failing once the text passes <c>maxLength</c>.</summary>
    private sealed class Writer(DumpOptions options, long maxLength)
    {
        private readonly StringBuilder _sb = new();
        private readonly string _itemSeparator = options.ItemSeparator ?? (options.Indent is null ? ", " : ",");
        private readonly string _keySeparator = options.KeySeparator ?? ": ";

        public override string ToString() => _sb.ToString();

        public void Write(Value value, int level)
        {
            if (level > MaxNesting || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
                throw new TemplateException("Circular reference detected");
            if (_sb.Length > maxLength)
                throw new TemplateException("tojson would build a string beyond the template limits");
            switch (value)
            {
                case NoneValue:
                    _sb.Append("null");
                    break;
                case BoolValue b:
                    _sb.Append(b.Value ? "true" : "false");
                    break;
                case IntValue i:
                    _sb.Append(i.Value.ToString(CultureInfo.InvariantCulture));
                    break;
                case FloatValue f:
                    _sb.Append(FloatText(f.Value));
                    break;
                case StringValue s:
                    WriteString(s.Value);
                    break;
                case ListValue list:
                    WriteItems(list.Items.Select(item => (default(Value), item)).ToList(), '[', ']', level);
                    break;
                case DictValue dict:
                    IEnumerable<KeyValuePair<Value, Value>> pairs = dict.Items;
                    if (options.SortKeys)
                        pairs = pairs.OrderBy(kv => KeyText(kv.Key), StringComparer.Ordinal);
                    WriteItems(pairs.Select(kv => ((Value?)kv.Key, kv.Value)).ToList(), '{', '}', level);
                    break;
                default:
                    throw new TemplateException($"Object of type {value.TypeName} is not JSON serializable");
            }
        }

        private void WriteItems(List<(Value? Key, Value Item)> items, char open, char close, int level)
        {
            if (items.Count == 0)
            {
                _sb.Append(open).Append(close);
                return;
            }
            _sb.Append(open);
            for (int k = 0; k < items.Count; k++)
            {
                if (k > 0)
                    _sb.Append(_itemSeparator);
                NewLine(level + 1);
                if (items[k].Key is { } key)
                {
                    WriteString(KeyText(key));
                    _sb.Append(_keySeparator);
                }
                Write(items[k].Item, level + 1);
            }
            NewLine(level);
            _sb.Append(close);
        }

        private void NewLine(int level)
        {
            if (options.Indent is null)
                return;
            _sb.Append('\n');
            for (int i = 0; i < level; i++)
                _sb.Append(options.Indent);
        }

        private void WriteString(string s)
        {
            _sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': _sb.Append("\\\""); break;
                    case '\\': _sb.Append("\\\\"); break;
                    case '\n': _sb.Append("\\n"); break;
                    case '\r': _sb.Append("\\r"); break;
                    case '\t': _sb.Append("\\t"); break;
                    case '\b': _sb.Append("\\b"); break;
                    case '\f': _sb.Append("\\f"); break;
                    default:
                        if (c < 0x20 || (options.EnsureAscii && c > 0x7e && c != TemplateLimits.LiteralMark))
                            _sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else
                            _sb.Append(c);
                        break;
                }
            }
            _sb.Append('"');
        }
    }

    private static string KeyText(Value key) => key switch
    {
        StringValue s => s.Value,
        BoolValue b => b.Value ? "true" : "false",
        NoneValue => "null",
        IntValue i => i.Value.ToString(CultureInfo.InvariantCulture),
        FloatValue f => FloatText(f.Value),
        _ => throw new TemplateException($"keys must be str, int, float, bool or None, not {key.TypeName}"),
    };

    private static string FloatText(double d) => double.IsNaN(d) ? "NaN"
        : double.IsPositiveInfinity(d) ? "Infinity"
        : double.IsNegativeInfinity(d) ? "-Infinity"
        : Formatting.FloatRepr(d);
}
