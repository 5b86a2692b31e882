using System.Text.Json.Nodes;

namespace Tern.Chat;

/// <summary>
/// What a chat template is rendered with, mirroring Hugging Face's <c>apply_chat_template</c>: <c>messages</c>,
/// <c>tools</c> (None when absent), <c>documents</c> (None), <c>add_generation_prompt</c>, <c>bos_token</c>,
/// <c>eos_token</c>, any extra variables (e.g. <c>enable_thinking</c>) and the clock behind <c>strftime_now</c>.
/// Messages and tools are JSON as they arrive over the API (object key order is kept); tool-call arguments should be
/// JSON objects, not strings, as the templates expect.
/// </summary>
public sealed class ChatTemplateInput
{
    public JsonArray Messages { get; init; } = [];

    public JsonArray? Tools { get; init; }

    public bool AddGenerationPrompt { get; init; } = true;

    public string BosToken { get; init; } = "";

    public string EosToken { get; init; } = "";

    /// <summary>Extra template variables; they override the standard ones of the same name.</summary>
    public IReadOnlyDictionary<string, JsonNode?>? Variables { get; init; }

    /// <summary>The clock for <c>strftime_now</c> (local time of this provider).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}

/// <summary>One chat message; <see cref="ToJson"/> writes only the fields that are set, as templates test them with <c>is defined</c>.</summary>
public sealed record ChatMessage(string Role, string? Content)
{
    public string? Name { get; init; }

    public string? ToolCallId { get; init; }

    public string? ReasoningContent { get; init; }

    /// <summary>OpenAI-style tool calls: <c>{id, type: "function", function: {name, arguments: {...}}}</c>.</summary>
    public JsonArray? ToolCalls { get; init; }

    public JsonObject ToJson()
    {
        var json = new JsonObject { ["role"] = Role, ["content"] = Content };
        if (Name is not null)
            json["name"] = Name;
        if (ToolCallId is not null)
            json["tool_call_id"] = ToolCallId;
        if (ReasoningContent is not null)
            json["reasoning_content"] = ReasoningContent;
        if (ToolCalls is not null)
            json["tool_calls"] = ToolCalls.DeepClone();
        return json;
    }

    public static JsonArray ToJsonArray(IEnumerable<ChatMessage> messages) => [.. messages.Select(m => (JsonNode)m.ToJson())];
}
