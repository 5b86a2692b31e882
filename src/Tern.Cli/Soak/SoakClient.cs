using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;

namespace Tern.Cli.Soak;

/// <summary>How one request ended.</summary>
internal enum Outcome
{
    /// <summary>The whole answer arrived and was well-formed.</summary>
    Completed,

    /// <summary>The client closed the stream after a few chunks, as meant.</summary>
    ClosedMidStream,

    /// <summary>The client aborted the connection before the answer, as meant.</summary>
    Disconnected,

    /// <summary>A malformed request got its 4xx with an error body.</summary>
    Intended4xx,

    /// <summary>429: the server's queue was full (clients beyond -np plus its queue); not an error.</summary>
    Rejected,

    /// <summary>Anything else: a 5xx, a wrong status, a dropped connection, a malformed answer, a timeout.</summary>
    Unexpected,
}

/// <param name="Cause">For <see cref="Outcome.Unexpected"/>: a short class ("status 500", "dropped connection", ...).</param>
/// <param name="Detail">For <see cref="Outcome.Unexpected"/>: what exactly, for the examples.</param>
internal sealed record SoakOutcome(Outcome Outcome, TimeSpan Latency, TimeSpan? TimeToFirstToken = null, string? Cause = null, string? Detail = null);

/// <summary>Sends one <see cref="SoakRequest"/> with a plain <see cref="HttpClient"/> and judges what comes back.</summary>
internal sealed class SoakClient(HttpClient http, TimeSpan timeout)
{
    /// <summary>
    /// An HttpClient for the soak: no overall timeout (each request has its own), and no draining of an answer the
    /// client stops reading, so closing a stream really closes the connection (the server must notice).
    /// </summary>
    public static HttpClient CreateHttp(Uri baseAddress, string? apiKey)
    {
        var handler = new SocketsHttpHandler { MaxResponseDrainSize = 0, ConnectTimeout = TimeSpan.FromSeconds(10) };
        var http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        if (apiKey is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return http;
    }

    public async Task<SoakOutcome> SendAsync(SoakRequest r)
    {
        using var timeoutSource = new CancellationTokenSource(timeout);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(timeoutSource.Token);
        if (r.Action == ClientAction.AbortAfterDelay)
            abort.CancelAfter(r.ActionArgument);
        long start = Stopwatch.GetTimestamp();
        using var message = new HttpRequestMessage(r.Method, r.Path);
        if (r.Body is not null)
            message.Content = new StringContent(r.Body, Encoding.UTF8, "application/json");
        try
        {
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, abort.Token);
            return await ReadAsync(r, response, start, abort.Token);
        }
        catch (OperationCanceledException) when (timeoutSource.IsCancellationRequested)
        {
            return Unexpected("timeout", r, $"no complete answer in {timeout.TotalSeconds:F0} s", start);
        }
        catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException
            && r.Action == ClientAction.AbortAfterDelay && abort.IsCancellationRequested)
        {
            return new SoakOutcome(Outcome.Disconnected, Stopwatch.GetElapsedTime(start));
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return Unexpected("dropped connection", r, e.InnerException?.Message ?? e.Message, start);
        }
    }

    private static async Task<SoakOutcome> ReadAsync(SoakRequest r, HttpResponseMessage response, long start, CancellationToken cancel)
    {
        int status = (int)response.StatusCode;
        if (status == 429 && r.ExpectedStatus == 200)
            return new SoakOutcome(Outcome.Rejected, Stopwatch.GetElapsedTime(start));
        if (status != r.ExpectedStatus)
        {
            string body = await response.Content.ReadAsStringAsync(cancel);
            string cause = r.ExpectedStatus == 200 ? $"status {status}" : $"status {status} instead of {r.ExpectedStatus}";
            return Unexpected(cause, r, Excerpt(body), start);
        }

        if (status != 200)
        {
            string body = await response.Content.ReadAsStringAsync(cancel);
            return BodyCheck.Error(body) is { } problem
                ? Unexpected("bad error body", r, $"{problem}: {Excerpt(body)}", start)
                : new SoakOutcome(Outcome.Intended4xx, Stopwatch.GetElapsedTime(start));
        }

        if (!r.Stream)
        {
            string body = await response.Content.ReadAsStringAsync(cancel);
            return BodyCheck.Completion(body) is { } problem
                ? Unexpected("bad body", r, $"{problem}: {Excerpt(body)}", start)
                : new SoakOutcome(Outcome.Completed, Stopwatch.GetElapsedTime(start));
        }

        if (response.Content.Headers.ContentType?.MediaType != "text/event-stream")
            return Unexpected("malformed SSE", r, $"content type '{response.Content.Headers.ContentType}'", start);
        var check = new SseCheck();
        TimeSpan? firstToken = null;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel), Encoding.UTF8);
        while (await reader.ReadLineAsync(cancel) is { } line)
        {
            if (check.Line(line) is { } problem)
                return Unexpected("malformed SSE", r, $"{problem}: {Excerpt(line)}", start);
            firstToken ??= check.ContentChunks > 0 ? Stopwatch.GetElapsedTime(start) : null;
            if (r.Action == ClientAction.CloseAfterChunks && check.ContentChunks >= r.ActionArgument)
                return new SoakOutcome(Outcome.ClosedMidStream, Stopwatch.GetElapsedTime(start), firstToken); // disposing closes the connection
        }

        return check.End() is { } end
            ? Unexpected("malformed SSE", r, end, start)
            : new SoakOutcome(Outcome.Completed, Stopwatch.GetElapsedTime(start), firstToken);
    }

    private static SoakOutcome Unexpected(string cause, SoakRequest r, string detail, long start) =>
        new(Outcome.Unexpected, Stopwatch.GetElapsedTime(start), Cause: cause, Detail: $"{r.Kind} ({r.Method} {r.Path}): {detail}");

    private static string Excerpt(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
