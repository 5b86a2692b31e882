using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Tern.Server;

/// <summary>
/// A streamed message: message_start and a ping, content blocks opened and closed as the text and thinking arrive
/// (content_block_start, content_block_delta, content_block_stop), the client tool calls as tool_use blocks with
/// input_json_delta, then message_delta (stop_reason, usage) and message_stop. A built-in tool run is a
/// <c>tern_tool_run</c> event, which Anthropic's clients pass over.
/// </summary>
internal sealed class MessagesStream(HttpResponse response, MessagesShape shape)
{
    private readonly SseWriter _sse = new(response);
    private int _index = -1;
    private string? _open; // the type of the open block; null: none is open

    /// <summary>Sends message_start (with the first prompt's size) and a ping, once.</summary>
    public async Task StartAsync(int promptTokens, CancellationToken cancellation)
    {
        if (_sse.Started)
            return;
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

    private Task WriteAsync(JsonObject data, CancellationToken cancellation) => _sse.WriteEventAsync(data, cancellation);
}
