using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tern.Cli.Soak;

/// <summary>What a soak measured, whether it passed, and its two forms: the summary for people and the JSON file.</summary>
internal sealed record SoakResult(
    SoakSettings Settings,
    SoakServerInfo Server,
    int MalformedCases,
    SoakTally Warmup,
    TimeSpan WarmupTime,
    bool? PoolFilled,
    SoakTally Load,
    TimeSpan LoadTime,
    bool Interrupted,
    KvSnapshot? Idle,
    KvSnapshot? After,
    string? AfterProblem,
    TimeSpan SettleTime,
    int? Pid,
    long? RssStart,
    long? RssEnd,
    long? RssPeak)
{
    public int UnexpectedErrors => Warmup.Unexpected + Load.Unexpected;

    /// <summary>RSS at the end over RSS after the warm-up, minus one; null when either was not read.</summary>
    public double? RssGrowth => RssStart is > 0 && RssEnd is { } end ? (double)(end - RssStart.Value) / RssStart.Value : null;

    /// <summary>Why the soak failed; empty when it passed.</summary>
    public IReadOnlyList<string> Failures
    {
        get
        {
            var failures = new List<string>();
            if (UnexpectedErrors > 0)
                failures.Add($"{UnexpectedErrors} unexpected errors (5xx, wrong status, dropped connections, malformed answers or timeouts)");
            if (Load.ByOutcome.GetValueOrDefault(Outcome.Completed) == 0)
                failures.Add("no request completed during the load");
            if (After is null)
                failures.Add($"KV blocks not verified: {AfterProblem}");
            else if (!After.IsIdle)
                failures.Add($"the server did not return to idle within {SettleTime.TotalSeconds:F0} s of the load: {After}");
            if (RssGrowth is { } growth && growth > Settings.MaxRssGrowth)
                failures.Add(string.Create(CultureInfo.InvariantCulture, $"server RSS grew {growth:P1} after the warm-up (limit {Settings.MaxRssGrowth:P1})"));
            return failures;
        }
    }

    /// <summary>0 passed, 1 failed, 130 stopped by Ctrl-C without a failure.</summary>
    public int ExitCode => Failures.Count > 0 ? 1 : Interrupted ? 130 : 0;

    public void WriteSummary(TextWriter w)
    {
        var c = CultureInfo.InvariantCulture;
        string pool = PoolFilled switch
        {
            true => ", the KV pool filled once",
            false => " that did not fill the KV pool (RSS growth may include its pages' first use)",
            null => "",
        };
        w.WriteLine(string.Create(c, $"soak of {Settings.Url}: {Settings.Clients} clients for {SoakRun.Format(LoadTime)} after a {SoakRun.Format(WarmupTime)} warm-up{pool}, seed {Settings.Seed}{(Interrupted ? " (stopped by Ctrl-C)" : "")}"));
        w.WriteLine(string.Create(c, $"requests: {Load.Requests} ({Load.Requests / Math.Max(LoadTime.TotalSeconds, 1e-3):F1}/s), warm-up {Warmup.Requests}"));
        w.WriteLine("  by kind: " + string.Join(", ", Kinds(Load).Select(k => $"{k.Key} {k.Value}")));
        w.WriteLine("  outcomes: " + string.Join(", ", Enum.GetValues<Outcome>().Select(o => $"{OutcomeName(o)} {Load.ByOutcome.GetValueOrDefault(o)}")));
        w.WriteLine($"unexpected errors: {UnexpectedErrors}" + (UnexpectedErrors == 0 ? "" : " — " + string.Join(", ", Causes().Select(k => $"{k.Key} {k.Value}"))));
        foreach (string example in Warmup.Examples.Concat(Load.Examples).Take(10))
            w.WriteLine($"  {example}");
        w.WriteLine($"intended 4xx: {Load.ByOutcome.GetValueOrDefault(Outcome.Intended4xx)} ({MalformedCases} kinds of malformed request)");
        w.WriteLine($"latency of completed requests: {Quantiles(Load.LatencyMs)}");
        w.WriteLine($"time to first token of streams: {Quantiles(Load.FirstTokenMs)}");
        w.WriteLine(RssStart is { } start && RssEnd is { } end
            ? string.Create(c, $"server RSS (pid {Pid}): {Mib(start)} after the warm-up, {Mib(end)} at the end ({RssGrowth:+0.0%;-0.0%}, limit {Settings.MaxRssGrowth:P1}), peak {Mib(RssPeak ?? end)}")
            : "server RSS: not measured (give --pid; found by itself only for a server on this machine's loopback)");
        w.WriteLine(After is null
            ? $"KV after the load: not verified ({AfterProblem})"
            : string.Create(c, $"KV after the load (settled in {SettleTime.TotalSeconds:F1} s): {After}{(Idle is null ? "" : $"; idle after the warm-up: {Idle}")}"));
        w.WriteLine(Failures.Count == 0 ? "result: PASS" : "result: FAIL — " + string.Join("; ", Failures));
    }

    public void WriteJson(string path)
    {
        var json = new JsonObject
        {
            ["url"] = Settings.Url.ToString(),
            ["model"] = Settings.Model,
            ["clients"] = Settings.Clients,
            ["duration_s"] = Math.Round(LoadTime.TotalSeconds, 1),
            ["warmup_s"] = Math.Round(WarmupTime.TotalSeconds, 1),
            ["kv_pool_filled_in_warmup"] = PoolFilled,
            ["seed"] = Settings.Seed,
            ["interrupted"] = Interrupted,
            ["n_ctx"] = Server.ContextLength,
            ["requests"] = Load.Requests,
            ["warmup_requests"] = Warmup.Requests,
            ["by_kind"] = Counts(Kinds(Load)),
            ["outcomes"] = Counts(Enum.GetValues<Outcome>().Select(o => KeyValuePair.Create(OutcomeName(o), Load.ByOutcome.GetValueOrDefault(o)))),
            ["unexpected_errors"] = UnexpectedErrors,
            ["unexpected_by_cause"] = Counts(Causes()),
            ["unexpected_examples"] = new JsonArray([.. Warmup.Examples.Concat(Load.Examples).Select(e => (JsonNode?)e)]),
            ["intended_4xx"] = Load.ByOutcome.GetValueOrDefault(Outcome.Intended4xx),
            ["latency_ms"] = QuantileJson(Load.LatencyMs),
            ["ttft_ms"] = QuantileJson(Load.FirstTokenMs),
            ["rss"] = new JsonObject
            {
                ["pid"] = Pid,
                ["start_bytes"] = RssStart,
                ["end_bytes"] = RssEnd,
                ["peak_bytes"] = RssPeak,
                ["growth"] = RssGrowth is { } g ? Math.Round(g, 5) : null,
                ["max_growth"] = Settings.MaxRssGrowth,
            },
            ["kv_idle_after_warmup"] = Kv(Idle),
            ["kv_after_load"] = Kv(After),
            ["settle_s"] = Math.Round(SettleTime.TotalSeconds, 2),
            ["blocks_freed"] = After?.IsIdle ?? false,
            ["passed"] = Failures.Count == 0,
            ["failures"] = new JsonArray([.. Failures.Select(f => (JsonNode?)f)]),
        };
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Kinds in the mix's order, each malformed request under its own name after them.</summary>
    private static IEnumerable<KeyValuePair<string, int>> Kinds(SoakTally t) =>
        t.ByKind.OrderBy(k => k.Key.StartsWith("malformed/", StringComparison.Ordinal)).ThenBy(k => k.Key, StringComparer.Ordinal);

    private IEnumerable<KeyValuePair<string, int>> Causes() =>
        Warmup.UnexpectedByCause.Concat(Load.UnexpectedByCause).GroupBy(k => k.Key).Select(g => KeyValuePair.Create(g.Key, g.Sum(k => k.Value))).OrderBy(k => k.Key, StringComparer.Ordinal);

    private static string OutcomeName(Outcome o) => o switch
    {
        Outcome.Completed => "completed",
        Outcome.ClosedMidStream => "closed_mid_stream",
        Outcome.Disconnected => "disconnected",
        Outcome.Intended4xx => "intended_4xx",
        Outcome.Rejected => "rejected_429",
        _ => "unexpected",
    };

    private static string Quantiles(IReadOnlyList<double> sorted) => sorted.Count == 0
        ? "none"
        : string.Create(CultureInfo.InvariantCulture, $"p50 {Percentile.Of(sorted, 50):F0} ms, p99 {Percentile.Of(sorted, 99):F0} ms, max {sorted[^1]:F0} ms (n={sorted.Count})");

    private static JsonObject QuantileJson(IReadOnlyList<double> sorted) => new()
    {
        ["count"] = sorted.Count,
        ["p50"] = Percentile.Of(sorted, 50) is { } p50 ? Math.Round(p50, 1) : null,
        ["p99"] = Percentile.Of(sorted, 99) is { } p99 ? Math.Round(p99, 1) : null,
        ["max"] = sorted.Count == 0 ? null : Math.Round(sorted[^1], 1),
    };

    private static JsonObject Counts(IEnumerable<KeyValuePair<string, int>> counts)
    {
        var json = new JsonObject();
        foreach (var (key, value) in counts)
            json[key] = value;
        return json;
    }

    private static JsonObject? Kv(KvSnapshot? k) => k is null ? null : new JsonObject
    {
        ["num_requests_running"] = k.Running,
        ["num_requests_waiting"] = k.Waiting,
        ["kv_cache_usage_perc"] = k.Usage,
        ["kv_blocks_used"] = k.BlocksUsed,
        ["kv_blocks_cached_only"] = k.BlocksCachedOnly,
        ["kv_blocks_held_by_requests"] = k.BlocksHeld,
        ["kv_blocks_total"] = k.BlocksTotal,
    };

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F1} MiB");
}
