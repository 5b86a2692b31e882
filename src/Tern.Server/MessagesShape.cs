using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tern.Chat.ToolCalls;
using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// Anthropic's Messages objects for one request: the message with its content blocks (thinking, text, tool_use),
/// stop_reason and usage, and the error body. Built-in tool runs (--tools) go in the extra <c>tern_tool_runs</c> field,
/// which Anthropic's clients ignore. With <paramref name="omitThinking"/> (thinking.display omitted) thinking blocks stay, without their text.
/// </summary>
internal sealed class MessagesShape(string id, string model, bool omitThinking)
{
    public bool OmitThinking => omitThinking;

    /// <summary>The whole message, for a request without <c>stream</c>.</summary>
    public JsonObject Message(AgentResult r)
    {
        var content = new JsonArray();
        if (r.Reasoning.Length > 0)
            content.Add(Thinking(omitThinking ? "" : r.Reasoning));
        if (r.Content.Length > 0 && !(r.ClientCalls.Count > 0 && string.IsNullOrWhiteSpace(r.Content)))
            content.Add(new JsonObject { ["type"] = "text", ["text"] = r.Content });
        foreach (var call in r.ClientCalls)
            content.Add(ToolUse(call, withInput: true));
        var (stopReason, stopSequence) = Stop(r);
        var message = Start(content, stopReason, stopSequence, Usage(r.Usage));
        if (r.ToolRuns.Count > 0)
            message["tern_tool_runs"] = new JsonArray([.. r.ToolRuns.Select(ResponseShape.ToolRun)]);
        return message;
    }

    /// <summary>The message as message_start carries it: no content yet, no stop reason.</summary>
    public JsonObject Start(JsonArray content, string? stopReason, string? stopSequence, JsonObject usage) => new()
    {
        ["id"] = id,
        ["type"] = "message",
        ["role"] = "assistant",
        ["model"] = model,
        ["content"] = content,
        ["stop_reason"] = stopReason,
        ["stop_sequence"] = stopSequence,
        ["usage"] = usage,
    };

    public static JsonObject Thinking(string text) => new() { ["type"] = "thinking", ["thinking"] = text, ["signature"] = "" };

    /// <summary>A tool_use block; while streaming its input starts empty and arrives as input_json_delta.</summary>
    public static JsonObject ToolUse(ToolCall call, bool withInput) => new()
    {
        ["type"] = "tool_use",
        ["id"] = call.Id,
        ["name"] = call.Name,
        ["input"] = withInput ? JsonNode.Parse(call.Arguments) : new JsonObject(),
    };

    /// <summary>stop_reason and stop_sequence: tool_use, max_tokens, stop_sequence (naming it) or end_turn.</summary>
    public static (string Reason, string? Sequence) Stop(AgentResult r) =>
        r.ClientCalls.Count > 0 ? ("tool_use", null)
        : r.Finished.Reason == FinishReason.Length ? ("max_tokens", null)
        : r.Finished.StopReason == StopReason.StopString ? ("stop_sequence", r.Finished.StopString)
        : ("end_turn", null);

    /// <summary>Anthropic's usage: input_tokens are the prompt tokens computed, cache_read_input_tokens those the prefix cache held.</summary>
    public static JsonObject Usage(GenerationUsage u) => new()
    {
        ["input_tokens"] = u.PromptTokens - u.CachedTokens,
        ["cache_creation_input_tokens"] = 0,
        ["cache_read_input_tokens"] = u.CachedTokens,
        ["output_tokens"] = u.CompletionTokens,
    };

    /// <summary>Anthropic's error type for an HTTP status.</summary>
    public static string ErrorType(int status) => status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 or 529 => "overloaded_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    /// <summary>The error body: {"type": "error", "error": {"type", "message"}}.</summary>
    public static JsonObject Error(int status, string message) => new()
    {
        ["type"] = "error",
        ["error"] = new JsonObject { ["type"] = ErrorType(status), ["message"] = message },
    };

    /// <summary>Whether a request path is on the Messages API (its errors are Anthropic-shaped).</summary>
    public static bool IsMessagesPath(PathString path) => path.StartsWithSegments("/v1/messages", StringComparison.Ordinal);
}
