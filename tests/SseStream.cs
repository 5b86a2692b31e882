using System.Net;
using System.Text;

namespace Tern.Testing;

/// <summary>A streamed (SSE) request read line by line, every wait bounded (tests that cut streams mid-way).</summary>
internal static class SseStream
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    /// <summary>POSTs <paramref name="json"/> as a streaming request and returns its reader once the first event has arrived.</summary>
    public static async Task<(HttpResponseMessage Response, StreamReader Reader)> StartAsync(HttpClient http, string path, string json, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).WaitAsync(Bound, cancellation);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"the stream was refused: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellation)}");
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
        while (await reader.ReadLineAsync(cancellation).AsTask().WaitAsync(Bound, cancellation) is { } line && !line.StartsWith("data: ", StringComparison.Ordinal))
        {
        }

        return (response, reader);
    }

    /// <summary>The rest of the stream's <c>data:</c> payloads, to its end.</summary>
    public static async Task<List<string>> ReadToEndAsync(StreamReader reader, CancellationToken cancellation)
    {
        var events = new List<string>();
        while (await reader.ReadLineAsync(cancellation).AsTask().WaitAsync(Bound, cancellation) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
                events.Add(line["data: ".Length..]);
        }

        return events;
    }
}
