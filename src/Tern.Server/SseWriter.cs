using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Tern.Server;

/// <summary>
/// Server-sent events: as chat completions stream them (`data: {json}` per chunk, `data: [DONE]` at the end), or as
/// the Responses and Messages APIs do (`event: TYPE` before each `data:` line, <see cref="WriteEventAsync"/>).
/// </summary>
internal sealed class SseWriter(HttpResponse response)
{
    private static readonly byte[] Prefix = "data: "u8.ToArray();
    private static readonly byte[] Separator = "\n\n"u8.ToArray();
    private bool _started;

    /// <summary>Whether the status line is sent (an error now goes out as an event).</summary>
    public bool Started => _started;

    /// <summary>`event: {type}` and `data: {json}`: the event named by its own <c>type</c>.</summary>
    public async Task WriteEventAsync(JsonObject e, CancellationToken cancellation)
    {
        await StartAsync(cancellation);
        await response.Body.WriteAsync(Event(e), cancellation);
        await response.Body.FlushAsync(cancellation);
    }

    public static byte[] Event(JsonObject e) =>
        System.Text.Encoding.UTF8.GetBytes($"event: {e["type"]!.GetValue<string>()}\ndata: {e.ToJsonString(ServerJson.Options)}\n\n");

    public async Task WriteAsync(object chunk, CancellationToken cancellation)
    {
        await StartAsync(cancellation);
        await response.Body.WriteAsync(Prefix, cancellation);
        await response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(chunk, ServerJson.Options), cancellation);
        await response.Body.WriteAsync(Separator, cancellation);
        await response.Body.FlushAsync(cancellation);
    }

    public async Task DoneAsync(CancellationToken cancellation)
    {
        await StartAsync(cancellation);
        await response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), cancellation);
        await response.Body.FlushAsync(cancellation);
    }

    /// <summary>A comment line (`: text`): progress the SSE parsers of the official clients skip, as the spec says.</summary>
    public async Task CommentAsync(string text, CancellationToken cancellation)
    {
        await StartAsync(cancellation);
        await response.Body.WriteAsync(System.Text.Encoding.UTF8.GetBytes($": {text.ReplaceLineEndings(" ")}\n\n"), cancellation);
        await response.Body.FlushAsync(cancellation);
    }

    public async Task StartAsync(CancellationToken cancellation)
    {
        if (_started)
            return;
        _started = true;
        if (response.HasStarted) // by another writer of the same response (comments sent while a model loaded)
            return;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync(cancellation);
    }
}

/// <summary>JSON settings for responses: null fields are written (OpenAI writes them), no indentation.</summary>
internal static class ServerJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = null,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
