using System.Text;
using System.Text.Json.Nodes;

namespace Tern.Chat.ToolCalls;

/// <summary>
/// The JSON types of each tool's parameters, read from the request's <c>tools</c> (<c>{"type": "function", "function": {"name",
/// "parameters": {"properties": {...}}}}</c>), for formats that write argument values as bare text (Qwen's XML calls). Tools that
/// are not shaped like that are ignored: typing is best effort, it never fails a request.
/// </summary>
internal sealed class ArgumentTypes
{
    private readonly Dictionary<string, Dictionary<string, HashSet<string>>> _functions = new(StringComparer.Ordinal);

    public ArgumentTypes(JsonArray? tools)
    {
        foreach (var tool in tools ?? [])
        {
            var function = tool is JsonObject t && t["function"] is JsonObject f ? f : tool as JsonObject;
            if (function?["name"] is not JsonValue nameValue || !nameValue.TryGetValue(out string? name))
                continue;
            var parameters = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            if (function["parameters"] is JsonObject schema && schema["properties"] is JsonObject properties)
            {
                foreach (var (parameter, property) in properties)
                    parameters[parameter] = TypesOf(property);
            }
            _functions.TryAdd(name, parameters);
        }
    }

    /// <summary>
    /// Appends a value as JSON, as the parameter's schema types it: a string, verbatim, when the schema allows strings; otherwise
    /// (and for parameters without a schema) the model's JSON text, or a Python literal <c>True</c>/<c>False</c>/<c>None</c> as
    /// templates render them; text that is neither stays a string.
    /// </summary>
    public void AppendValue(StringBuilder json, string function, string parameter, string value)
    {
        if (_functions.TryGetValue(function, out var parameters) && parameters.TryGetValue(parameter, out var types) && types.Contains("string"))
        {
            json.Append(CallJson.Quote(value));
            return;
        }
        string text = value.Trim();
        string? literal = Literal(text);
        if (literal is not null)
        {
            json.Append(literal);
        }
        else if (text.Length > 0 && CallJson.TryParse(text, out var document, out _))
        {
            document.Dispose();
            json.Append(text);
        }
        else
        {
            json.Append(CallJson.Quote(value));
        }
    }

    /// <summary>The JSON of <c>true</c>, <c>false</c> and <c>null</c>, also written as Python's <c>True</c>, <c>False</c> and <c>None</c>.</summary>
    public static string? Literal(string text) => text switch
    {
        "true" or "True" => "true",
        "false" or "False" => "false",
        "null" or "None" => "null",
        _ => null,
    };

    private static HashSet<string> TypesOf(JsonNode? schema)
    {
        var types = new HashSet<string>(StringComparer.Ordinal);
        Collect(schema, types, depth: 0);
        return types;
    }

    private static void Collect(JsonNode? schema, HashSet<string> types, int depth)
    {
        if (schema is not JsonObject s || depth > 8)
            return;
        switch (s["type"])
        {
            case JsonValue v when v.TryGetValue(out string? type):
                types.Add(type);
                break;
            case JsonArray list:
                foreach (var item in list)
                {
                    if (item is JsonValue iv && iv.TryGetValue(out string? type))
                        types.Add(type);
                }
                break;
        }
        foreach (string key in (string[])["anyOf", "oneOf", "allOf"])
        {
            if (s[key] is JsonArray alternatives)
            {
                foreach (var alternative in alternatives)
                    Collect(alternative, types, depth + 1);
            }
        }
    }
}
