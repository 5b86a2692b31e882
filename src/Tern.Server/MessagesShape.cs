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

    /// <summary>One server-sent event as Anthropic writes it: an <c>event:</c> line naming the type, then the data.</summary>
    public static byte[] Event(JsonObject data) =>
        Encoding.UTF8.GetBytes($"event: {data["type"]!.GetValue<string>()}\ndata: {data.ToJsonString(ServerJson.Options)}\n\n");
}

/// <summary>
/// A streamed message: message_start and a ping, content blocks opened and closed as the text and thinking arrive
/// (content_block_start, content_block_delta, content_block_stop), the client tool calls as tool_use blocks with
/// input_json_delta, then message_delta (stop_reason, usage) and message_stop. A built-in tool run is a
/// <c>tern_tool_run</c> event, which Anthropic's clients pass over.
/// </summary>
internal sealed class MessagesStream(HttpResponse response, MessagesShape shape)
{
    private bool _started;
    private int _index = -1;
    private string? _open; // the type of the open block; null: none is open

    /// <summary>Sends message_start (with the first prompt's size) and a ping, once.</summary>
    public async Task StartAsync(int promptTokens, CancellationToken cancellation)
    {
        if (_started)
            return;
        _started = true;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync(cancellation);
        var usage = new JsonObject { ["input_tokens"] = promptTokens, ["output_tokens"] = 0 };
        await WriteAsync(new JsonObject { ["type"] = "message_start", ["message"] = shape.Start([], null, null, usage) }, cancellation);
        await WriteAsync(new JsonObject { ["type"] = "ping" }, cancellation);
    }

    public Task EventAsync(AgentEvent e, CancellationToken cancellation) => e switch
    {
        AgentContent c => DeltaAsync("text", new JsonObject { ["type"] = "text_delta", ["text"] = c.Text }, cancellation),
        AgentReasoning r => DeltaAsync("thinking", shape.OmitThinking ? null : new JsonObject { ["type"] = "thinking_delta", ["thinking"] = r.Text }, cancellation),
        AgentToolRun run => ToolRunAsync(run, cancellation),
        _ => Task.CompletedTask,
    };

    public async Task FinishAsync(AgentResult r, CancellationToken cancellation)
    {
        await CloseAsync(cancellation);
        foreach (var call in r.ClientCalls)
        {
            await OpenAsync(MessagesShape.ToolUse(call, withInput: false), cancellation);
            await WriteAsync(Delta(new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = call.Arguments }), cancellation);
            await CloseAsync(cancellation);
        }

        var (stopReason, stopSequence) = MessagesShape.Stop(r);
        await WriteAsync(new JsonObject
        {
            ["type"] = "message_delta",
            ["delta"] = new JsonObject { ["stop_reason"] = stopReason, ["stop_sequence"] = stopSequence },
            ["usage"] = MessagesShape.Usage(r.Usage),
        }, cancellation);
        await WriteAsync(new JsonObject { ["type"] = "message_stop" }, cancellation);
    }

    /// <summary>Opens a block of <paramref name="blockType"/> unless one is open, and sends the delta (null: none).</summary>
    private async Task DeltaAsync(string blockType, JsonObject? delta, CancellationToken cancellation)
    {
        if (_open != blockType)
        {
            await CloseAsync(cancellation);
            await OpenAsync(blockType == "text" ? new JsonObject { ["type"] = "text", ["text"] = "" } : MessagesShape.Thinking(""), cancellation);
        }

        if (delta is not null)
            await WriteAsync(Delta(delta), cancellation);
    }

    private async Task ToolRunAsync(AgentToolRun run, CancellationToken cancellation)
    {
        await CloseAsync(cancellation);
        await WriteAsync(new JsonObject { ["type"] = "tern_tool_run", ["run"] = ResponseShape.ToolRun(run) }, cancellation);
    }

    private async Task OpenAsync(JsonObject block, CancellationToken cancellation)
    {
        _index++;
        _open = block["type"]!.GetValue<string>();
        await WriteAsync(new JsonObject { ["type"] = "content_block_start", ["index"] = _index, ["content_block"] = block }, cancellation);
    }

    private async Task CloseAsync(CancellationToken cancellation)
    {
        if (_open is null)
            return;
        _open = null;
        await WriteAsync(new JsonObject { ["type"] = "content_block_stop", ["index"] = _index }, cancellation);
    }

    private JsonObject Delta(JsonObject delta) => new() { ["type"] = "content_block_delta", ["index"] = _index, ["delta"] = delta };

    private async Task WriteAsync(JsonObject data, CancellationToken cancellation)
    {
        await response.Body.WriteAsync(MessagesShape.Event(data), cancellation);
        await response.Body.FlushAsync(cancellation);
    }
}
