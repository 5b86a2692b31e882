using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tern.Server;

/// <summary>
/// Validates the `messages` (and `tools`) of a chat request and normalizes them for the template: text parts are
/// joined into one string, and tool-call arguments, which arrive as JSON strings, are parsed into objects (as chat
/// templates expect); `chat_template_kwargs` become the template's extra variables.
/// </summary>
internal static class ChatMessages
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static JsonArray Read(JsonRequest r)
    {
        var messages = r.Required("messages", JsonValueKind.Array);
        if (messages.GetArrayLength() == 0)
            throw ApiException.BadRequest("'messages' must contain at least one message", "messages");
        var result = new JsonArray();
        int i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType(at, m, "an object");
            var message = new JsonObject();
            string role = m.TryGetProperty("role", out var r0) && r0.ValueKind == JsonValueKind.String
                ? r0.GetString()!
                : throw ApiException.BadRequest($"'{at}.role' is required and must be a string", $"{at}.role");
            if (!Roles.Contains(role))
                throw ApiException.BadRequest($"'{at}.role' must be one of system, developer, user, assistant, tool; got '{role}'", $"{at}.role");
            message["role"] = role;
            message["content"] = Content(m, at);
            foreach (var p in m.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "role" or "content":
                        break;
                    case "tool_calls":
                        message["tool_calls"] = ToolCalls(p.Value, $"{at}.tool_calls");
                        break;
                    case "name" or "tool_call_id" or "reasoning_content":
                        if (p.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                            throw JsonRequest.WrongType($"{at}.{p.Name}", p.Value, "a string");
                        message[p.Name] = JsonNode.Parse(p.Value.GetRawText());
                        break;
                }
            }

            result.Add(message);
        }

        return result;
    }

    public static JsonArray? Tools(JsonRequest r)
    {
        if (r.Element("tools") is not { } tools)
            return null;
        if (tools.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType("tools", tools, "an array");
        int i = 0;
        foreach (var t in tools.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object
                || !f.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String)
                throw ApiException.BadRequest($"'tools[{i}]' must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}", $"tools[{i}]");
            if (f.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
                throw JsonRequest.WrongType($"tools[{i}].function.strict", strict, "a boolean");
            i++;
        }

        return tools.GetArrayLength() == 0 ? null : (JsonArray)JsonNode.Parse(tools.GetRawText())!;
    }

    /// <summary>The names of the tools marked <c>"strict": true</c> (their calls must match their schema).</summary>
    public static IReadOnlySet<string> StrictTools(JsonArray? tools) =>
        tools?.Where(t => t?["function"]?["strict"] is JsonValue v && v.GetValueKind() == JsonValueKind.True)
            .Select(t => t!["function"]!["name"]!.GetValue<string>()).ToHashSet() ?? [];

    /// <summary>
    /// The variables the server passes to every template itself; as in Hugging Face's <c>apply_chat_template</c>,
    /// where they are its own arguments, a kwarg cannot replace them (bos_token and eos_token can be, as there).
    /// </summary>
    private static readonly HashSet<string> ReservedVariables = ["messages", "tools", "documents", "add_generation_prompt"];

    /// <summary>
    /// <c>chat_template_kwargs</c>, as llama-server takes it: an object whose members become extra template variables
    /// (e.g. <c>enable_thinking</c>), any JSON value each; null when absent.
    /// </summary>
    public static IReadOnlyDictionary<string, JsonNode?>? TemplateKwargs(JsonRequest r)
    {
        if (r.Element("chat_template_kwargs") is not { } kwargs)
            return null;
        if (kwargs.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("chat_template_kwargs", kwargs, "an object");
        var result = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var p in kwargs.EnumerateObject())
        {
            string at = $"chat_template_kwargs.{p.Name}";
            if (ReservedVariables.Contains(p.Name))
                throw ApiException.BadRequest($"'{at}' cannot be set: the server passes '{p.Name}' to the template itself", at);
            if (p.Name == "enable_thinking" && p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                throw JsonRequest.WrongType(at, p.Value, "a boolean");
            if (!result.TryAdd(p.Name, JsonNode.Parse(p.Value.GetRawText())))
                throw ApiException.BadRequest($"'{at}' is given twice", at);
        }

        return result;
    }

    private static JsonNode? Content(JsonElement m, string at)
    {
        if (!m.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null)
            return null;
        if (c.ValueKind == JsonValueKind.String)
            return c.GetString();
        if (c.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType($"{at}.content", c, "a string or an array of text parts");
        var text = new System.Text.StringBuilder();
        int i = 0;
        foreach (var part in c.EnumerateArray())
        {
            string partAt = $"{at}.content[{i++}]";
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                throw ApiException.BadRequest($"'{partAt}' must be an object with a 'type'", partAt);
            if (type.GetString() != "text")
                throw ApiException.BadRequest($"'{partAt}.type' '{type.GetString()}' is not supported: this model reads text only", $"{partAt}.type");
            if (!part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw ApiException.BadRequest($"'{partAt}.text' is required and must be a string", $"{partAt}.text");
            text.Append(t.GetString());
        }

        return text.ToString();
    }

    private static JsonArray ToolCalls(JsonElement calls, string at)
    {
        if (calls.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType(at, calls, "an array");
        var result = new JsonArray();
        int i = 0;
        foreach (var call in calls.EnumerateArray())
        {
            string callAt = $"{at}[{i++}]";
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object
                || !f.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                throw ApiException.BadRequest($"'{callAt}' must have a function with a name", callAt);
            var node = (JsonObject)JsonNode.Parse(call.GetRawText())!;
            if (f.TryGetProperty("arguments", out var args) && args.ValueKind == JsonValueKind.String)
                node["function"]!["arguments"] = Arguments(args.GetString()!, $"{callAt}.function.arguments");

            result.Add(node);
        }

        return result;
    }

    /// <summary>Tool-call arguments, a JSON string, parsed into the object templates expect (its strings checked as the body's).</summary>
    public static JsonNode? Arguments(string json, string at)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            JsonRequest.RequireText(document.RootElement, at);
            return JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            throw ApiException.BadRequest($"'{at}' is not valid JSON", at);
        }
    }
}
