using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tern.Cli.Soak;

/// <summary>The soak's own errors (the server cannot be reached, a flag is wrong): one line, never a stack trace.</summary>
internal sealed class SoakException(string message) : Exception(message);

/// <summary>What the soak asks the server outside the load: its models, context and tokens (to size the prompts), and /metrics.</summary>
internal sealed class ServerProbe(HttpClient http, string? model)
{
    private const int DefaultContext = 2048;
    private const double DefaultCharsPerToken = 4;
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(30);

    private string ModelQuery => model is null ? "" : "?model=" + Uri.EscapeDataString(model);

    /// <summary>
    /// GET /v1/models (it must answer: the soak stops here if the server is not there), /props for n_ctx and
    /// total_slots, and /tokenize on a sample of the mix's words for its characters per token; a server without the
    /// last two gets 2,048 and 4.
    /// </summary>
    public async Task<SoakServerInfo> DescribeAsync(CancellationToken cancel)
    {
        string models;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(ProbeTimeout);
        try
        {
            using var response = await http.GetAsync("/v1/models", limit.Token);
            models = await response.Content.ReadAsStringAsync(limit.Token);
            if (response.StatusCode != HttpStatusCode.OK)
                throw new SoakException($"GET {http.BaseAddress}v1/models answered {(int)response.StatusCode}: {models.ReplaceLineEndings(" ")}");
        }
        catch (Exception e) when (e is HttpRequestException or IOException || e is OperationCanceledException && !cancel.IsCancellationRequested)
        {
            throw new SoakException($"cannot reach the server at {http.BaseAddress}: {e.Message}");
        }

        bool router = Json(models) is { } list && list["data"] is JsonArray data && data.Any(m => m is JsonObject o && o.ContainsKey("status"));
        var props = Json(await GetAsync("/props" + ModelQuery, cancel));
        int context = props?["n_ctx"] is JsonValue n && n.TryGetValue(out int c) && c > 0 ? c : DefaultContext;
        int? slots = props?["total_slots"] is JsonValue t && t.TryGetValue(out int count) && count > 0 ? count : null;
        return new SoakServerInfo(context, await CharsPerTokenAsync(cancel), router, slots);
    }

    /// <summary>The load and KV cache now; null (and why) when /metrics does not show them.</summary>
    public async Task<(KvSnapshot? Snapshot, string? Problem)> MetricsAsync(CancellationToken cancel)
    {
        string? text = await GetAsync("/metrics" + ModelQuery, cancel);
        if (text is null)
            return (null, "GET /metrics did not answer 200");
        var snapshot = KvSnapshot.From(PrometheusText.Parse(text), model);
        return snapshot is null
            ? (null, $"/metrics lacks {KvSnapshot.RunningName}, {KvSnapshot.WaitingName} or {KvSnapshot.UsageName}" + (model is null ? "" : $" for model_name=\"{model}\""))
            : (snapshot, null);
    }

    /// <summary>Polls /metrics until the server is idle or <paramref name="limit"/> passes; the last snapshot and the wait.</summary>
    public async Task<(KvSnapshot? Snapshot, string? Problem, TimeSpan Waited)> SettleAsync(TimeSpan limit, CancellationToken cancel)
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            var (snapshot, problem) = await MetricsAsync(cancel);
            var waited = Stopwatch.GetElapsedTime(start);
            if (snapshot is null || snapshot.IsIdle || waited >= limit)
                return (snapshot, problem, waited);
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancel);
        }
    }

    private async Task<double> CharsPerTokenAsync(CancellationToken cancel)
    {
        string sample = PromptText.Words(new Random(0), 2000);
        var body = new JsonObject { ["content"] = sample };
        if (model is not null)
            body["model"] = model;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(ProbeTimeout);
        try
        {
            using var response = await http.PostAsync("/tokenize", new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"), limit.Token);
            if (response.StatusCode == HttpStatusCode.OK && Json(await response.Content.ReadAsStringAsync(limit.Token))?["tokens"] is JsonArray tokens && tokens.Count > 0)
                return (double)sample.Length / tokens.Count;
        }
        catch (Exception e) when (e is HttpRequestException or IOException || e is OperationCanceledException && !cancel.IsCancellationRequested)
        {
            // a server without /tokenize: the default
        }

        return DefaultCharsPerToken;
    }

    /// <summary>The body of a 200 answer to GET <paramref name="path"/>; null for any other answer, none, or none in 30 s.</summary>
    private async Task<string?> GetAsync(string path, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(ProbeTimeout);
        try
        {
            using var response = await http.GetAsync(path, limit.Token);
            return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync(limit.Token) : null;
        }
        catch (Exception e) when (e is HttpRequestException or IOException || e is OperationCanceledException && !cancel.IsCancellationRequested)
        {
            return null;
        }
    }

    private static JsonNode? Json(string? text)
    {
        if (text is null)
            return null;
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
