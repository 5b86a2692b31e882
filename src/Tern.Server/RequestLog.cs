using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// What one request did, filled in by the routes as they learn it (the model, the tokens, the first token's time)
/// and logged as one line when the request ends. The routes reach it through <see cref="Current"/>, which the
/// middleware sets for the request's async flow (the turn starters have no HttpContext).
/// </summary>
internal sealed class RequestStats
{
    private static readonly AsyncLocal<RequestStats?> CurrentStats = new();

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _promptTokens, _cachedTokens, _generatedTokens;

    public static RequestStats? Current => CurrentStats.Value;

    public string? Id { get; set; }
    public string? Model { get; set; }
    public double? FirstTokenMs { get; private set; }
    public int PromptTokens => _promptTokens;
    public int CachedTokens => _cachedTokens;
    public int GeneratedTokens => _generatedTokens;
    public double ElapsedMs => _clock.Elapsed.TotalMilliseconds;

    /// <summary>The prompt as the model saw it, kept only under --log-prompts.</summary>
    public string? Prompt { get; set; }

    /// <summary>Why the request failed (set by the error middleware), or null.</summary>
    public Exception? Error { get; set; }

    public void AddPromptTokens(int count) => Interlocked.Add(ref _promptTokens, count);

    /// <summary>
    /// The engine's events for <paramref name="request"/>, passed through while the request's stats count them:
    /// the first delta's time, then the finish's usage (a tool loop's turns add up).
    /// </summary>
    public static IAsyncEnumerable<GenerationEvent> Track(ServedModel model, GenerationRequest request, IAsyncEnumerable<GenerationEvent> events)
    {
        if (Current is not { } stats)
            return events;
        stats.Id ??= request.Id;
        stats.Model = model.Name;
        stats._submittedMs ??= stats.ElapsedMs;
        if (stats.LogPrompts)
            stats.Prompt = model.Tokenizer.Decode(request.PromptTokens.ToArray(), renderSpecial: true);
        return stats.Count(events);
    }

    /// <summary>A request read to its end without <see cref="Track"/>'s stream: its usage, and the engine's time to the first token.</summary>
    public void Finished(GenerationFinished f)
    {
        FirstTokenMs ??= (_submittedMs ?? 0) + f.Timings.Queued.TotalMilliseconds + f.Timings.Prompt.TotalMilliseconds;
        Interlocked.Add(ref _promptTokens, f.Usage.PromptTokens);
        Interlocked.Add(ref _cachedTokens, f.Usage.CachedTokens);
        Interlocked.Add(ref _generatedTokens, f.Usage.CompletionTokens);
    }

    private double? _submittedMs;

    internal bool LogPrompts { get; init; }

    private async IAsyncEnumerable<GenerationEvent> Count(IAsyncEnumerable<GenerationEvent> events,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation = default)
    {
        await foreach (var e in events.WithCancellation(cancellation))
        {
            if (e is GenerationDelta && FirstTokenMs is null)
                FirstTokenMs = ElapsedMs;
            if (e is GenerationFinished f)
                Finished(f);

            yield return e;
        }
    }

    internal static void Begin(RequestStats stats) => CurrentStats.Value = stats;
}

/// <summary>
/// The middleware that times each request and logs one line when it ends: id, method, route, model, status, prompt,
/// cached and generated tokens, time to first token, total time and the client's address (category Tern.Request).
/// A failed request's line carries its error code (4xx) or the exception itself (5xx: the cause, with its stack).
/// Prompt text and error messages (which may quote the request) appear only with --log-prompts; keys never.
/// </summary>
internal sealed class RequestLog(ILogger logger, bool logPrompts)
{
    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var stats = new RequestStats { LogPrompts = logPrompts };
        RequestStats.Begin(stats);
        try
        {
            await next(http);
        }
        finally
        {
            Write(http, stats);
        }
    }

    private void Write(HttpContext http, RequestStats stats)
    {
        int status = http.RequestAborted.IsCancellationRequested && !http.Response.HasStarted ? 499 : http.Response.StatusCode;
        string route = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? http.Request.Path.ToString();
        string? error = stats.Error switch
        {
            null => null,
            ApiException api when logPrompts => $"{api.Code ?? api.Type}: {api.Message}",
            ApiException api => api.Code ?? api.Type,
            var e when logPrompts => $"{e.GetType().Name}: {e.Message}",
            var e => e.GetType().Name,
        };
        var level = status >= 500 ? LogLevel.Error : status >= 400 || stats.Error is not null ? LogLevel.Warning : LogLevel.Information;
        var cause = status >= 500 && stats.Error is not ApiException ? stats.Error : null; // an ApiException says why by its code
        logger.Log(level, cause,
            "request {Id} {Method} {Route} model={Model} status={Status} prompt_tokens={PromptTokens} cached_tokens={CachedTokens} "
            + "generated_tokens={GeneratedTokens} ttft_ms={TtftMs} total_ms={TotalMs} client={Client} error={Error} prompt={Prompt}",
            stats.Id ?? http.TraceIdentifier, http.Request.Method, route, stats.Model, status, stats.PromptTokens, stats.CachedTokens,
            stats.GeneratedTokens, stats.FirstTokenMs is { } t ? Math.Round(t, 1) : null, Math.Round(stats.ElapsedMs, 1),
            http.Connection.RemoteIpAddress?.ToString(), error, stats.Prompt);
    }
}
