using System.Text;
using System.Text.Json;

namespace Tern.Chat.ToolCalls;

/// <summary>A call read from JSON: either a name and arguments (JSON object text), or the problem that makes it malformed.</summary>
internal readonly record struct CallCandidate(string? Name, string? Arguments, string? Id, string? Problem)
{
    public static CallCandidate Malformed(string problem, string? name = null, string? id = null) => new(name, null, id, problem);
}

/// <summary>Reads calls from JSON; arguments keep the model's text (key order, spacing, escapes) via <see cref="JsonElement.GetRawText"/>.</summary>
internal static class CallJson
{
    /// <summary>The first keys of the JSON call shapes: Llama writes <c>"type": "function"</c> first, OpenAI-shaped calls <c>"function"</c>.</summary>
    private static readonly string[] CallKeys = ["name", "type", "function", "tool_calls", "tool_call"];
    private static readonly int MaxCallKeyLength = CallKeys.Max(key => key.Length);

    /// <summary>JSON that must hold calls (it followed a call marker): an object is one call, an array a list of calls.</summary>
    public static List<CallCandidate> ReadCalls(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
            return [CallCandidate.Malformed("the call is empty")];
        if (!TryParse(json, out var document, out string? problem))
            return [CallCandidate.Malformed(problem)];
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
                return ReadArray(root);
            return [ReadCall(root)];
        }
    }

    /// <summary>
    /// JSON that may be a message rather than calls (a whole message, a fenced block): calls when it starts like a call (see
    /// <see cref="MatchCallStart"/>) and is shaped like calls (<c>{"name", "arguments"|"parameters"}</c>, <c>{"tool_calls": [...]}</c>,
    /// <c>{"tool_call": {...}}</c>, <c>{"function": {...}}</c> or an array of those), malformed calls when it is broken JSON that
    /// starts like one, otherwise null: it is content.
    /// </summary>
    public static List<CallCandidate>? ReadIfCalls(string json, bool complete)
    {
        if (!LooksLikeCall(json))
            return null;
        if (!complete)
            return [CallCandidate.Malformed("the JSON of the call is incomplete")];
        if (!TryParse(json, out var document, out string? problem))
            return [CallCandidate.Malformed(problem)];
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("tool_calls", out var list) && list.ValueKind == JsonValueKind.Array)
                    return ReadArray(list);
                if (root.TryGetProperty("tool_call", out var single) && single.ValueKind == JsonValueKind.Object)
                    return [ReadCall(single)];
                return IsCallShaped(root) ? [ReadCall(root)] : null;
            }
            if (root.ValueKind == JsonValueKind.Array && root.GetArrayLength() > 0 && root.EnumerateArray().All(IsCallShaped))
                return ReadArray(root);
            return null;
        }
    }

    /// <summary>Arguments written on their own (after Mistral's <c>[ARGS]</c>): a JSON object, returned as written.</summary>
    public static string? ReadArguments(string json, out string? problem)
    {
        if (!TryParse(json, out var document, out problem))
            return null;
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                problem = $"the arguments must be a JSON object, not {Describe(document.RootElement.ValueKind)}";
                return null;
            }
            return document.RootElement.GetRawText();
        }
    }

    /// <summary>Broken or cut-off JSON whose first key says it meant to be a call.</summary>
    public static bool LooksLikeCall(string json) => MatchCallStart(json, final: true) == MarkerMatch.Full;

    /// <summary>
    /// Whether JSON starts like a call: <c>{</c> or <c>[{</c> and a first key of <see cref="CallKeys"/>. Partial when the text
    /// ends before that is known; None is final, whatever follows, so a message that starts with other JSON can stream as content.
    /// </summary>
    public static MarkerMatch MatchCallStart(ReadOnlySpan<char> text, bool final)
    {
        var undecided = final ? MarkerMatch.None : MarkerMatch.Partial;
        int i = SkipSpace(text, 0);
        if (i < text.Length && text[i] == '[')
            i = SkipSpace(text, i + 1);
        if (i == text.Length)
            return undecided;
        if (text[i] != '{')
            return MarkerMatch.None;
        i = SkipSpace(text, i + 1);
        if (i == text.Length)
            return undecided;
        if (text[i] != '"')
            return MarkerMatch.None;
        int keyStart = ++i;
        while (i < text.Length && text[i] != '"' && i - keyStart <= MaxCallKeyLength)
            i++;
        if (i - keyStart > MaxCallKeyLength)
            return MarkerMatch.None;
        var key = text[keyStart..i];
        bool isPrefix = false, isKey = false;
        foreach (string callKey in CallKeys)
        {
            isPrefix |= callKey.AsSpan().StartsWith(key, StringComparison.Ordinal);
            isKey |= key.SequenceEqual(callKey);
        }
        if (i == text.Length)
            return isPrefix ? undecided : MarkerMatch.None;
        if (!isKey)
            return MarkerMatch.None;
        i = SkipSpace(text, i + 1);
        if (i == text.Length)
            return undecided;
        return text[i] == ':' ? MarkerMatch.Full : MarkerMatch.None;
    }

    /// <summary>A JSON string literal; unlike the default encoder it leaves non-ASCII text as it is.</summary>
    public static string Quote(string text)
    {
        var builder = new StringBuilder(text.Length + 2).Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                case < ' ': builder.Append($"\\u{(int)c:x4}"); break;
                default: builder.Append(c); break;
            }
        }
        return builder.Append('"').ToString();
    }

    public static bool TryParse(string json, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out JsonDocument? document,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        try
        {
            document = JsonDocument.Parse(json);
            problem = null;
            return true;
        }
        catch (JsonException ex)
        {
            document = null;
            problem = $"invalid JSON ({ex.Message})";
            return false;
        }
        catch (ArgumentException ex)
        {
            // text that is not valid UTF-16 (a lone surrogate)
            document = null;
            problem = $"invalid text ({ex.Message})";
            return false;
        }
    }

    private static List<CallCandidate> ReadArray(JsonElement array)
    {
        var calls = new List<CallCandidate>();
        foreach (var element in array.EnumerateArray())
            calls.Add(ReadCall(element));
        if (calls.Count == 0)
            calls.Add(CallCandidate.Malformed("the list of calls is empty"));
        return calls;
    }

    private static CallCandidate ReadCall(JsonElement call)
    {
        if (call.ValueKind != JsonValueKind.Object)
            return CallCandidate.Malformed($"a call must be a JSON object, not {Describe(call.ValueKind)}");
        string? id = StringProperty(call, "id");
        // the OpenAI shape nests name and arguments in "function"
        var function = call.TryGetProperty("function", out var inner) && inner.ValueKind == JsonValueKind.Object ? inner : call;
        if (!function.TryGetProperty("name", out var nameElement))
            return CallCandidate.Malformed("the call has no \"name\"", id: id);
        string? name = nameElement.ValueKind == JsonValueKind.String ? nameElement.GetString() : null;
        if (string.IsNullOrWhiteSpace(name))
            return CallCandidate.Malformed("\"name\" must be a non-empty string", id: id);
        if (!function.TryGetProperty("arguments", out var arguments) && !function.TryGetProperty("parameters", out arguments))
            return new CallCandidate(name, "{}", id, null); // a function without parameters
        switch (arguments.ValueKind)
        {
            case JsonValueKind.Object:
                return new CallCandidate(name, arguments.GetRawText(), id, null);
            case JsonValueKind.Null:
                return new CallCandidate(name, "{}", id, null);
            case JsonValueKind.String:
                // some models write the arguments as a JSON string, as the OpenAI API does
                string text = arguments.GetString()!;
                if (TryParse(text, out var nested, out _))
                {
                    using (nested)
                    {
                        if (nested.RootElement.ValueKind == JsonValueKind.Object)
                            return new CallCandidate(name, nested.RootElement.GetRawText(), id, null);
                    }
                }
                return CallCandidate.Malformed("\"arguments\" must be a JSON object, not a string", name, id);
            default:
                return CallCandidate.Malformed($"\"arguments\" must be a JSON object, not {Describe(arguments.ValueKind)}", name, id);
        }
    }

    private static bool IsCallShaped(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
            return false;
        if (element.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object
            && function.TryGetProperty("name", out _))
            return true;
        return element.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
            && (element.TryGetProperty("arguments", out _) || element.TryGetProperty("parameters", out _));
    }

    private static string? StringProperty(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    private static int SkipSpace(ReadOnlySpan<char> text, int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i]))
            i++;
        return i;
    }
}
