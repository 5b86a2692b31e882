using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tern.Chat.ToolCalls;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>The <c>response</c> object of one POST /v1/responses: the result, and the request's settings it repeats (<paramref name="echo"/>).</summary>
internal sealed class ResponsesShape(string id, long createdAt, string model, JsonObject echo)
{
    public JsonObject Response(string status, IEnumerable<JsonObject> output, GenerationUsage? usage = null, int reasoningTokens = 0)
    {
        var response = new JsonObject
        {
            ["id"] = id,
            ["object"] = "response",
            ["created_at"] = createdAt,
            ["status"] = status,
            ["background"] = false,
            ["completed_at"] = status == "completed" ? DateTimeOffset.UtcNow.ToUnixTimeSeconds() : null,
            ["error"] = null,
            ["incomplete_details"] = status == "incomplete" ? new JsonObject { ["reason"] = "max_output_tokens" } : null,
            ["model"] = model,
            ["output"] = new JsonArray([.. output.Select(o => o.DeepClone())]),
            ["previous_response_id"] = null,
            ["service_tier"] = "default",
            ["store"] = false,
            ["max_tool_calls"] = null,
            ["top_logprobs"] = 0,
            ["truncation"] = "disabled",
            ["usage"] = usage is { } u ? Usage(u, reasoningTokens) : null,
        };
        foreach (var (name, value) in echo)
            response[name] = value?.DeepClone();
        return response;
    }

    private static JsonObject Usage(GenerationUsage u, int reasoningTokens) => new()
    {
        ["input_tokens"] = u.PromptTokens,
        ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = u.CachedTokens },
        ["output_tokens"] = u.CompletionTokens,
        ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = Math.Min(reasoningTokens, u.CompletionTokens) },
        ["total_tokens"] = u.TotalTokens,
    };
}

/// <summary>
/// The output items of one response, built from the agent's events in the order they happen: reasoning text streams into a
/// <c>reasoning</c> item (its <c>reasoning_text</c> content), visible text into a <c>message</c> item (an <c>output_text</c>
/// part), a built-in tool run is an <c>mcp_call</c> item (server label "tern": run by the server, with its output), and the
/// calls to the client's tools are <c>function_call</c> items at the end. With <paramref name="events"/>, each step is
/// also streamed as the Responses API's events.
/// </summary>
internal sealed class ResponsesOutput(ResponsesEvents? events)
{
    private readonly List<JsonObject> _items = [];
    private readonly StringBuilder _text = new(); // the open item's text
    private readonly StringBuilder _reasoning = new(); // all of the response's reasoning
    private JsonObject? _open; // the message or reasoning item text goes into now

    public IReadOnlyList<JsonObject> Items => _items;

    public string Reasoning => _reasoning.ToString();

    public Task AddAsync(AgentEvent e, CancellationToken cancellation)
    {
        switch (e)
        {
            case AgentContent c:
                return TextAsync("message", c.Text, cancellation);
            case AgentReasoning r:
                _reasoning.Append(r.Text);
                return TextAsync("reasoning", r.Text, cancellation);
            case AgentToolRun run:
                return ToolRunAsync(run, cancellation);
            default:
                return Task.CompletedTask;
        }
    }

    /// <summary>Closes the open item and adds the client's function calls; a response with neither text nor calls gets an empty message.</summary>
    public async Task FinishAsync(IReadOnlyList<ToolCall> calls, bool incomplete, CancellationToken cancellation)
    {
        string status = incomplete ? "incomplete" : "completed";
        if (calls.Count == 0 && !_items.Any(i => (string?)i["type"] == "message"))
            await TextAsync("message", "", cancellation);
        await CloseAsync(status, cancellation);
        foreach (var call in calls)
        {
            var item = new JsonObject
            {
                ["id"] = "fc_" + Guid.NewGuid().ToString("N"),
                ["type"] = "function_call",
                ["status"] = "in_progress",
                ["arguments"] = "",
                ["call_id"] = call.Id,
                ["name"] = call.Name,
            };
            int index = await AddItemAsync(item, cancellation);
            var at = new JsonObject { ["item_id"] = item["id"]!.GetValue<string>(), ["output_index"] = index };
            await EmitAsync("response.function_call_arguments.delta", at, new JsonObject { ["delta"] = call.Arguments }, cancellation);
            await EmitAsync("response.function_call_arguments.done", at, new JsonObject { ["arguments"] = call.Arguments, ["name"] = call.Name }, cancellation);
            item["arguments"] = call.Arguments;
            item["status"] = "completed";
            await EmitAsync("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = item.DeepClone() }, null, cancellation);
        }
    }

    private async Task TextAsync(string type, string delta, CancellationToken cancellation)
    {
        if ((string?)_open?["type"] != type)
        {
            await CloseAsync("completed", cancellation);
            _open = type == "message"
                ? new JsonObject { ["id"] = "msg_" + Guid.NewGuid().ToString("N"), ["type"] = "message", ["status"] = "in_progress", ["role"] = "assistant", ["content"] = new JsonArray() }
                : new JsonObject { ["id"] = "rs_" + Guid.NewGuid().ToString("N"), ["type"] = "reasoning", ["summary"] = new JsonArray(), ["content"] = new JsonArray() };
            _text.Clear();
            await AddItemAsync(_open, cancellation);
            await EmitAsync("response.content_part.added", OpenAt(), new JsonObject { ["part"] = Part("") }, cancellation);
        }

        if (delta.Length == 0)
            return;
        _text.Append(delta);
        var fields = new JsonObject { ["delta"] = delta };
        if (type == "message")
            fields["logprobs"] = new JsonArray();
        await EmitAsync(type == "message" ? "response.output_text.delta" : "response.reasoning_text.delta", OpenAt(), fields, cancellation);
    }

    private async Task CloseAsync(string status, CancellationToken cancellation)
    {
        if (_open is not { } item)
            return;
        string text = _text.ToString();
        var fields = new JsonObject { ["text"] = text };
        if ((string?)item["type"] == "message")
        {
            fields["logprobs"] = new JsonArray();
            await EmitAsync("response.output_text.done", OpenAt(), fields, cancellation);
            item["status"] = status;
        }
        else
        {
            await EmitAsync("response.reasoning_text.done", OpenAt(), fields, cancellation);
        }

        await EmitAsync("response.content_part.done", OpenAt(), new JsonObject { ["part"] = Part(text) }, cancellation);
        item["content"] = new JsonArray(Part(text));
        await EmitAsync("response.output_item.done", new JsonObject { ["output_index"] = _items.Count - 1, ["item"] = item.DeepClone() }, null, cancellation);
        _open = null;
    }

    private async Task ToolRunAsync(AgentToolRun run, CancellationToken cancellation)
    {
        await CloseAsync("completed", cancellation);
        var item = new JsonObject
        {
            ["id"] = "mcp_" + Guid.NewGuid().ToString("N"),
            ["type"] = "mcp_call",
            ["status"] = run.Result.Ok ? "completed" : "failed",
            ["server_label"] = "tern",
            ["name"] = run.Call.Name,
            ["arguments"] = run.Call.Arguments,
            ["output"] = run.Result.Output,
            ["error"] = run.Result.Ok ? null : new JsonObject { ["type"] = "mcp_tool_execution_error", ["content"] = run.Result.Output },
        };
        int index = await AddItemAsync(item, cancellation);
        await EmitAsync("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = item.DeepClone() }, null, cancellation);
    }

    /// <summary>The open item's text part: <c>output_text</c> in a message, <c>reasoning_text</c> in a reasoning item.</summary>
    private JsonObject Part(string text) => (string?)_open!["type"] == "message"
        ? new JsonObject { ["type"] = "output_text", ["annotations"] = new JsonArray(), ["logprobs"] = new JsonArray(), ["text"] = text }
        : new JsonObject { ["type"] = "reasoning_text", ["text"] = text };

    private JsonObject OpenAt() => new() { ["item_id"] = _open!["id"]!.GetValue<string>(), ["output_index"] = _items.Count - 1, ["content_index"] = 0 };

    private async Task<int> AddItemAsync(JsonObject item, CancellationToken cancellation)
    {
        _items.Add(item);
        await EmitAsync("response.output_item.added", new JsonObject { ["output_index"] = _items.Count - 1, ["item"] = item.DeepClone() }, null, cancellation);
        return _items.Count - 1;
    }

    private Task EmitAsync(string type, JsonObject at, JsonObject? fields, CancellationToken cancellation)
    {
        if (events is null)
            return Task.CompletedTask;
        var e = new JsonObject { ["type"] = type };
        foreach (var (name, value) in at)
            e[name] = value?.DeepClone();
        foreach (var (name, value) in fields ?? [])
            e[name] = value?.DeepClone();
        return events.WriteAsync(e, cancellation);
    }
}

/// <summary>
/// The Responses API's server-sent events: <c>event: TYPE</c> and <c>data: {json}</c>, each with the next
/// <c>sequence_number</c>; no <c>[DONE]</c> (the terminal event ends the stream).
/// </summary>
internal sealed class ResponsesEvents(HttpResponse response)
{
    private readonly SseWriter _sse = new(response);
    private int _sequence;

    public bool Started => _sse.Started;

    public Task WriteAsync(JsonObject e, CancellationToken cancellation)
    {
        e["sequence_number"] = _sequence++;
        return _sse.WriteEventAsync(e, cancellation);
    }
}
