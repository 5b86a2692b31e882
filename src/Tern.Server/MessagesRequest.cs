using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Runtime.Sampling;

namespace Tern.Server;

/// <summary>
/// An Anthropic Messages request, validated and turned into what the chat pipeline takes: the internal chat messages
/// (the shape <see cref="ChatMessages.Read"/> produces: role, content string, tool_calls with object arguments,
/// tool_call_id, reasoning_content), tools in the function shape templates expect, and the template's
/// <c>enable_thinking</c> switch. Every field is read or refused: an unknown one is a 400 naming it.
/// </summary>
/// <param name="Tools">The client's tools as <c>{type: function, function: {name, description, parameters}}</c>; null: none (or tool_choice none).</param>
/// <param name="UseTools">False with tool_choice none: no tool is offered or parsed, the built-in ones neither.</param>
/// <param name="SingleToolUse">tool_choice's disable_parallel_tool_use: at most one tool_use block is returned.</param>
/// <param name="OmitThinking">thinking.display omitted: the thinking blocks' text is left out.</param>
internal sealed record MessagesRequest(
    JsonArray Messages,
    JsonArray? Tools,
    bool UseTools,
    bool SingleToolUse,
    IReadOnlyDictionary<string, JsonNode?>? Kwargs,
    bool OmitThinking,
    SamplingParams Sampling,
    int MaxTokens,
    IReadOnlyList<string> StopSequences,
    bool Stream,
    bool ForceCall = false,
    string? ForcedFunction = null)
{
    private const int MaxStopSequences = 16;

    private static readonly HashSet<string> CountTokensFields = ["model", "messages", "system", "tools", "tool_choice", "thinking", BuiltinTools.Field];

    private static readonly HashSet<string> CreateFields =
        [.. CountTokensFields, "max_tokens", "stop_sequences", "temperature", "top_p", "top_k", "stream", "metadata"];

    /// <summary>A POST /v1/messages body.</summary>
    public static MessagesRequest Read(JsonRequest r, SamplingParams defaults, int vocabSize)
    {
        var request = ReadPrompt(r, CreateFields);
        int maxTokens = r.Has("max_tokens")
            ? (int)r.Integer("max_tokens", 1, int.MaxValue)!
            : throw ApiException.BadRequest("'max_tokens' is required", "max_tokens", "missing_required_parameter");
        if (r.Element("thinking") is { } thinking && thinking.TryGetProperty("budget_tokens", out var budget)
            && budget.ValueKind == JsonValueKind.Number && budget.TryGetInt64(out long b) && b >= maxTokens)
            throw ApiException.BadRequest($"'thinking.budget_tokens' must be less than 'max_tokens' ({maxTokens}), got {b}", "thinking.budget_tokens");
        if (r.Element("metadata") is { } metadata && metadata.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("metadata", metadata, "an object");
        var sampling = defaults with
        {
            Temperature = (float)(r.Number("temperature", 0, 1) ?? defaults.Temperature),
            TopP = (float)(r.Number("top_p", 0, 1) ?? defaults.TopP),
            TopK = (int)(r.Integer("top_k", 0, vocabSize) ?? defaults.TopK),
        };
        if (sampling.TopP == 0)
            throw ApiException.BadRequest("'top_p' must be above 0", "top_p");
        return request with
        {
            Sampling = sampling,
            MaxTokens = maxTokens,
            StopSequences = StopSequencesOf(r),
            Stream = r.Bool("stream") ?? false,
        };
    }

    /// <summary>A POST /v1/messages/count_tokens body: only what the prompt is made of.</summary>
    public static MessagesRequest ReadPrompt(JsonRequest r) => ReadPrompt(r, CountTokensFields);

    private static MessagesRequest ReadPrompt(JsonRequest r, HashSet<string> fields)
    {
        foreach (var p in r.Root.EnumerateObject())
        {
            if (!fields.Contains(p.Name))
                throw ApiException.BadRequest($"'{p.Name}' is not a field of this request (fields: {string.Join(", ", fields)})", p.Name, "unknown_parameter");
        }

        if (r.Has("model"))
            r.String("model");
        var (useTools, single, force, function) = ToolChoice(r);
        var tools = ReadTools(r);
        var (kwargs, omitThinking) = Thinking(r);
        return new MessagesRequest(ReadMessages(r), useTools ? tools : null, useTools, single, kwargs, omitThinking, new SamplingParams(), 0, [], false, force, function);
    }

    private static JsonArray ReadMessages(JsonRequest r)
    {
        var result = new JsonArray();
        if (System(r) is { } system)
            result.Add(new JsonObject { ["role"] = "system", ["content"] = system });
        var messages = r.Required("messages", JsonValueKind.Array);
        if (messages.GetArrayLength() == 0)
            throw ApiException.BadRequest("'messages' must contain at least one message", "messages");
        var toolNames = new Dictionary<string, string>(StringComparer.Ordinal); // tool_use id → name, for the results
        int i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType(at, m, "an object");
            Fields(m, at, "role", "content");
            string role = m.TryGetProperty("role", out var r0) && r0.ValueKind == JsonValueKind.String
                ? r0.GetString()!
                : throw ApiException.BadRequest($"'{at}.role' is required and must be a string", $"{at}.role");
            if (!m.TryGetProperty("content", out var content) || content.ValueKind is not (JsonValueKind.String or JsonValueKind.Array))
                throw ApiException.BadRequest($"'{at}.content' is required and must be a string or an array of content blocks", $"{at}.content");
            if (role == "user")
                UserMessage(content, $"{at}.content", toolNames, result);
            else if (role == "assistant")
                result.Add(AssistantMessage(content, $"{at}.content", toolNames));
            else
                throw ApiException.BadRequest($"'{at}.role' must be user or assistant; got '{role}' (the system prompt is the top-level 'system')", $"{at}.role");
        }

        string last = $"messages[{messages.GetArrayLength() - 1}].role";
        if (result[^1]!["role"]!.GetValue<string>() == "assistant")
            throw ApiException.BadRequest($"'{last}' is assistant: prefilling the reply is not supported; end with a user message", last);
        return result;
    }

    /// <summary>The system prompt: a string, or text blocks joined.</summary>
    private static string? System(JsonRequest r)
    {
        if (r.Element("system") is not { } system)
            return null;
        if (system.ValueKind == JsonValueKind.String)
            return system.GetString();
        if (system.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType("system", system, "a string or an array of text blocks");
        var text = new StringBuilder();
        int i = 0;
        foreach (var block in system.EnumerateArray())
        {
            string at = $"system[{i++}]";
            if (BlockType(block, at) != "text")
                throw ApiException.BadRequest($"'{at}.type' must be text", $"{at}.type");
            text.Append(Text(block, at));
        }

        return text.ToString();
    }

    /// <summary>A user turn: its tool_result blocks become tool messages (in order), its text one user message after them.</summary>
    private static void UserMessage(JsonElement content, string at, Dictionary<string, string> toolNames, JsonArray result)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            result.Add(new JsonObject { ["role"] = "user", ["content"] = content.GetString() });
            return;
        }

        var text = new StringBuilder();
        bool hasText = false;
        int i = 0;
        foreach (var block in content.EnumerateArray())
        {
            string blockAt = $"{at}[{i++}]";
            switch (BlockType(block, blockAt))
            {
                case "text":
                    text.Append(Text(block, blockAt));
                    hasText = true;
                    break;
                case "tool_result":
                    Fields(block, blockAt, "type", "tool_use_id", "content", "is_error", "cache_control");
                    string id = RequiredString(block, "tool_use_id", blockAt);
                    if (!toolNames.TryGetValue(id, out string? name))
                        throw ApiException.BadRequest($"'{blockAt}.tool_use_id' '{id}' matches no tool_use block of an earlier assistant message", $"{blockAt}.tool_use_id");
                    bool isError = block.TryGetProperty("is_error", out var e) && e.ValueKind != JsonValueKind.Null
                        && (e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean() : throw JsonRequest.WrongType($"{blockAt}.is_error", e, "a boolean"));
                    string output = ToolResultContent(block, blockAt);
                    result.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = id, ["name"] = name, ["content"] = isError ? "error: " + output : output });
                    break;
                default:
                    throw Unsupported(block, blockAt, "text and tool_result");
            }
        }

        if (hasText || i == 0)
            result.Add(new JsonObject { ["role"] = "user", ["content"] = text.ToString() });
    }

    private static string ToolResultContent(JsonElement block, string at)
    {
        if (!block.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
            return "";
        if (content.ValueKind == JsonValueKind.String)
            return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType($"{at}.content", content, "a string or an array of text blocks");
        var text = new StringBuilder();
        int i = 0;
        foreach (var part in content.EnumerateArray())
        {
            string partAt = $"{at}.content[{i++}]";
            if (BlockType(part, partAt) != "text")
                throw Unsupported(part, partAt, "text");
            text.Append(Text(part, partAt));
        }

        return text.ToString();
    }

    /// <summary>An assistant turn: text joined, tool_use blocks as tool_calls, thinking blocks as reasoning_content.</summary>
    private static JsonObject AssistantMessage(JsonElement content, string at, Dictionary<string, string> toolNames)
    {
        // Content is a string even when empty: templates such as Qwen3 test it with `in`.
        var message = new JsonObject { ["role"] = "assistant", ["content"] = content.ValueKind == JsonValueKind.String ? content.GetString() : "" };
        if (content.ValueKind == JsonValueKind.String)
            return message;
        var text = new StringBuilder();
        var reasoning = new StringBuilder();
        var calls = new JsonArray();
        int i = 0;
        foreach (var block in content.EnumerateArray())
        {
            string blockAt = $"{at}[{i++}]";
            switch (BlockType(block, blockAt))
            {
                case "text":
                    text.Append(Text(block, blockAt));
                    break;
                case "thinking":
                    Fields(block, blockAt, "type", "thinking", "signature");
                    reasoning.Append(RequiredString(block, "thinking", blockAt));
                    break;
                case "tool_use":
                    Fields(block, blockAt, "type", "id", "name", "input", "cache_control");
                    string id = RequiredString(block, "id", blockAt);
                    string name = RequiredString(block, "name", blockAt);
                    if (!block.TryGetProperty("input", out var input) || input.ValueKind != JsonValueKind.Object)
                        throw ApiException.BadRequest($"'{blockAt}.input' is required and must be an object", $"{blockAt}.input");
                    toolNames[id] = name;
                    calls.Add(new JsonObject
                    {
                        ["id"] = id,
                        ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = name, ["arguments"] = JsonNode.Parse(input.GetRawText()) },
                    });
                    break;
                default:
                    throw Unsupported(block, blockAt, "text, thinking and tool_use");
            }
        }

        message["content"] = text.ToString();
        if (reasoning.Length > 0)
            message["reasoning_content"] = reasoning.ToString();
        if (calls.Count > 0)
            message["tool_calls"] = calls;
        return message;
    }

    /// <summary>Anthropic's tools (<c>{name, description, input_schema}</c>) as the function tools chat templates read.</summary>
    private static JsonArray? ReadTools(JsonRequest r)
    {
        if (r.Element("tools") is not { } tools)
            return null;
        if (tools.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType("tools", tools, "an array");
        var result = new JsonArray();
        var names = new HashSet<string>(StringComparer.Ordinal);
        int i = 0;
        foreach (var t in tools.EnumerateArray())
        {
            string at = $"tools[{i++}]";
            if (t.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType(at, t, "an object");
            if (t.TryGetProperty("type", out var type) && type.ValueKind != JsonValueKind.Null && !(type.ValueKind == JsonValueKind.String && type.GetString() == "custom"))
                throw ApiException.BadRequest($"'{at}.type' {type.GetRawText()} is not supported: only client tools (type custom, or none) are; "
                    + "Anthropic's server tools do not run here (start the server with --tools for its built-in ones)", $"{at}.type");
            Fields(t, at, "type", "name", "description", "input_schema", "cache_control", "strict");
            string name = RequiredString(t, "name", at);
            if (!names.Add(name))
                throw ApiException.BadRequest($"'{at}.name' '{name}' is given twice", $"{at}.name");
            bool strict = t.TryGetProperty("strict", out var s) && s.ValueKind != JsonValueKind.Null
                && (s.ValueKind is JsonValueKind.True or JsonValueKind.False ? s.GetBoolean() : throw JsonRequest.WrongType($"{at}.strict", s, "a boolean"));
            if (!t.TryGetProperty("input_schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                throw ApiException.BadRequest($"'{at}.input_schema' is required and must be an object (a JSON schema)", $"{at}.input_schema");
            var function = new JsonObject { ["name"] = name };
            if (t.TryGetProperty("description", out var description) && description.ValueKind != JsonValueKind.Null)
                function["description"] = description.ValueKind == JsonValueKind.String ? description.GetString() : throw JsonRequest.WrongType($"{at}.description", description, "a string");
            function["parameters"] = JsonNode.Parse(schema.GetRawText());
            if (strict)
                function["strict"] = true; // its calls are generated under its schema (ChatMessages.StrictTools)
            result.Add(new JsonObject { ["type"] = "function", ["function"] = function });
        }

        return result.Count == 0 ? null : result;
    }

    /// <summary>tool_choice: auto, none, any (a call to some tool) and tool (a call to the named one; the last two generated under a grammar).</summary>
    private static (bool UseTools, bool Single, bool Force, string? Function) ToolChoice(JsonRequest r)
    {
        if (r.Element("tool_choice") is not { } choice)
            return (true, false, false, null);
        if (choice.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("tool_choice", choice, "an object");
        Fields(choice, "tool_choice", "type", "name", "disable_parallel_tool_use");
        string type = RequiredString(choice, "type", "tool_choice");
        bool single = choice.TryGetProperty("disable_parallel_tool_use", out var d) && d.ValueKind != JsonValueKind.Null
            && (d.ValueKind is JsonValueKind.True or JsonValueKind.False ? d.GetBoolean() : throw JsonRequest.WrongType("tool_choice.disable_parallel_tool_use", d, "a boolean"));
        return type switch
        {
            "auto" => (true, single, false, null),
            "none" => (false, single, false, null),
            "any" => (true, single, true, null),
            "tool" => (true, single, true, RequiredString(choice, "name", "tool_choice")),
            _ => throw ApiException.BadRequest($"'tool_choice.type' must be auto, any, tool or none; got '{type}'", "tool_choice.type"),
        };
    }

    /// <summary>
    /// thinking as the template's enable_thinking: {type: enabled, budget_tokens} and {type: adaptive} turn it on,
    /// {type: disabled} off; null when absent (the template's default). display omitted: thinking blocks come back empty.
    /// </summary>
    private static (IReadOnlyDictionary<string, JsonNode?>? Kwargs, bool Omit) Thinking(JsonRequest r)
    {
        if (r.Element("thinking") is not { } thinking)
            return (null, false);
        if (thinking.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("thinking", thinking, "an object");
        Fields(thinking, "thinking", "type", "budget_tokens", "display");
        string type = RequiredString(thinking, "type", "thinking");
        bool enabled = type switch
        {
            "enabled" or "adaptive" => true,
            "disabled" => false,
            _ => throw ApiException.BadRequest($"'thinking.type' must be enabled, adaptive or disabled; got '{type}'", "thinking.type"),
        };
        bool hasBudget = thinking.TryGetProperty("budget_tokens", out var budget) && budget.ValueKind != JsonValueKind.Null;
        if (type == "enabled" && (!hasBudget || budget.ValueKind != JsonValueKind.Number || !budget.TryGetInt64(out long b) || b < 1))
            throw ApiException.BadRequest("'thinking.budget_tokens' is required with type enabled and must be a positive integer", "thinking.budget_tokens");
        if (type != "enabled" && hasBudget)
            throw ApiException.BadRequest("'thinking.budget_tokens' is only for type enabled", "thinking.budget_tokens");
        string? display = thinking.TryGetProperty("display", out var d) && d.ValueKind != JsonValueKind.Null
            ? d.ValueKind == JsonValueKind.String ? d.GetString() : throw JsonRequest.WrongType("thinking.display", d, "a string")
            : null;
        if (display is not (null or "summarized" or "omitted"))
            throw ApiException.BadRequest($"'thinking.display' must be summarized or omitted; got '{display}'", "thinking.display");
        return (new Dictionary<string, JsonNode?> { ["enable_thinking"] = enabled }, display == "omitted");
    }

    private static IReadOnlyList<string> StopSequencesOf(JsonRequest r)
    {
        if (r.Element("stop_sequences") is not { } stop)
            return [];
        if (stop.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType("stop_sequences", stop, "an array of strings");
        if (stop.GetArrayLength() > MaxStopSequences)
            throw ApiException.BadRequest($"'stop_sequences' may hold at most {MaxStopSequences} strings", "stop_sequences");
        var list = new List<string>();
        foreach (var item in stop.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString()!.Length == 0)
                throw ApiException.BadRequest("'stop_sequences' must hold non-empty strings", "stop_sequences");
            list.Add(item.GetString()!);
        }

        return list;
    }

    private static string BlockType(JsonElement block, string at) =>
        block.ValueKind == JsonValueKind.Object && block.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : throw ApiException.BadRequest($"'{at}' must be an object with a string 'type'", at);

    /// <summary>A text block's text (citations and cache_control are accepted and have no effect).</summary>
    private static string Text(JsonElement block, string at)
    {
        Fields(block, at, "type", "text", "cache_control", "citations");
        return RequiredString(block, "text", at);
    }

    private static string RequiredString(JsonElement o, string name, string at) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw ApiException.BadRequest($"'{at}.{name}' is required and must be a string", $"{at}.{name}");

    private static ApiException Unsupported(JsonElement block, string at, string supported) =>
        ApiException.BadRequest($"'{at}.type' '{block.GetProperty("type").GetString()}' is not supported here (supported: {supported}; this model reads text only)", $"{at}.type");

    /// <summary>Refuses a member of <paramref name="o"/> not in <paramref name="allowed"/>, naming it.</summary>
    private static void Fields(JsonElement o, string at, params string[] allowed)
    {
        foreach (var p in o.EnumerateObject())
        {
            if (Array.IndexOf(allowed, p.Name) < 0)
                throw ApiException.BadRequest($"'{at}.{p.Name}' is not a field here (fields: {string.Join(", ", allowed)})", $"{at}.{p.Name}", "unknown_parameter");
        }
    }
}
