namespace Tern.Cli.Soak;

/// <summary>
/// The server's load and KV cache as /metrics shows them. Blocks only the prefix cache holds are free for the taking
/// (they are what a later prompt reuses), so idle means: nothing running or waiting, and no block held by a request.
/// </summary>
/// <param name="BlocksUsed"><c>tern_kv_blocks_used</c>: every block out of the pool, the prefix cache's included.</param>
/// <param name="BlocksCachedOnly"><c>tern_kv_blocks_cached</c>: blocks only the prefix cache holds.</param>
internal sealed record KvSnapshot(double Running, double Waiting, double Usage, double? BlocksUsed, double? BlocksCachedOnly, double? BlocksTotal)
{
    public const string RunningName = "vllm:num_requests_running";
    public const string WaitingName = "vllm:num_requests_waiting";
    public const string UsageName = "vllm:kv_cache_usage_perc";

    /// <summary>Blocks held by requests (Tern's counts), or null on a server without them.</summary>
    public double? BlocksHeld => BlocksUsed - BlocksCachedOnly;

    public bool IsIdle => Running == 0 && Waiting == 0 && Usage == 0 && (BlocksHeld ?? 0) == 0;

    /// <summary>The snapshot in <paramref name="samples"/>, or null when a gauge it needs is missing.</summary>
    public static KvSnapshot? From(IReadOnlyList<MetricSample> samples, string? model)
    {
        double? Find(string name) => PrometheusText.Find(samples, name, model);
        return Find(RunningName) is { } running && Find(WaitingName) is { } waiting && Find(UsageName) is { } usage
            ? new KvSnapshot(running, waiting, usage, Find("tern_kv_blocks_used"), Find("tern_kv_blocks_cached"), Find("tern_kv_blocks_total"))
            : null;
    }

    public override string ToString() =>
        $"{Running} running, {Waiting} waiting, kv_cache_usage_perc {Usage:0.####}"
        + (BlocksHeld is { } held ? $", {held} blocks held by requests, {BlocksCachedOnly} cached-only of {BlocksTotal}" : "");
}
