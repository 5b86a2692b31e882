using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Tern.Cli.Soak;

/// <summary>
/// One soak: learn the server's shape; warm up (a burst of long prompts, one for every slot of the server, then the mix until
/// the KV pool has been filled once); let the server settle and read its RSS; run the measured load; let it settle
/// again and read /metrics and the RSS once more.
/// </summary>
internal static class SoakRun
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan TickEvery = TimeSpan.FromSeconds(2);

    /// <summary>How much longer than --warmup the warm-up may run while the KV pool is not yet filled.</summary>
    public static readonly TimeSpan WarmupLimit = TimeSpan.FromMinutes(10);

    /// <summary>Runs the soak; <paramref name="stop"/> (Ctrl-C) ends the load early, and the result still comes.</summary>
    public static async Task<SoakResult> RunAsync(SoakSettings s, TextWriter stderr, CancellationToken stop)
    {
        s.Validate();
        using var http = SoakClient.CreateHttp(s.Url, s.ApiKey);
        var probe = new ServerProbe(http, s.Model);
        var server = await probe.DescribeAsync(CancellationToken.None);
        int? pid = s.Pid ?? (IsLoopback(s.Url) ? ProcessMemory.ListeningOn(s.Url.Port) : null);
        if (s.Pid is { } given && ProcessMemory.ResidentBytes(given) is null)
            throw new SoakException($"--pid {given}: no readable /proc/{given}/status");
        string rss = pid is null ? "server RSS not measured (give --pid)" : $"server pid {pid}";
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"soak: {s.Clients} clients against {s.Url} (n_ctx {server.ContextLength}, {server.CharsPerToken:F1} characters a token{(server.Router ? ", router" : "")}); {rss}"));

        var mix = new SoakMix(server, s.Seed, s.MaxTokens, s.Model);
        var client = new SoakClient(http, s.Timeout);
        var randoms = Enumerable.Range(0, s.Clients).Select(i => new Random(unchecked((s.Seed * 7919) + i))).ToArray();
        var warmup = new SoakTally();
        var pool = new PoolFill();
        var warmupTime = TimeSpan.Zero;
        if (s.Warmup > TimeSpan.Zero)
        {
            stderr.WriteLine($"soak: warming up for {Format(s.Warmup)}, longer until the KV pool has been filled once (at most {Format(s.Warmup + WarmupLimit)})");
            await Task.WhenAll(randoms.Take(server.Slots ?? randoms.Length).Select(async random =>
            {
                var burst = mix.Burst(random);
                warmup.Add(burst, await client.SendAsync(burst));
            }));
            warmupTime = await LoadAsync(client, mix, randoms, warmup, t => t >= s.Warmup && (pool.Filled || t >= s.Warmup + WarmupLimit), stop, async t =>
            {
                pool.See((await probe.MetricsAsync(CancellationToken.None)).Snapshot);
                return string.Create(CultureInfo.InvariantCulture, $"warm-up {t.TotalSeconds:F0} s, {warmup.Requests} requests, {warmup.Unexpected} unexpected, KV pool {pool.Peak:P0} used at most");
            }, stderr);
        }

        var idle = await probe.SettleAsync(s.Settle, CancellationToken.None);
        long? rssStart = pid is { } p ? ProcessMemory.ResidentBytes(p) : null;
        long rssPeak = rssStart ?? 0;
        var tally = new SoakTally();
        stderr.WriteLine($"soak: load for {Format(s.Duration)}");
        var loadTime = await LoadAsync(client, mix, randoms, tally, t => t >= s.Duration, stop, t =>
        {
            if (pid is { } id && ProcessMemory.ResidentBytes(id) is { } rss)
                rssPeak = Math.Max(rssPeak, rss);
            return Task.FromResult($"{t.TotalSeconds:F0}/{s.Duration.TotalSeconds:F0} s, {tally.Requests} requests, {tally.Unexpected} unexpected");
        }, stderr);

        var after = await probe.SettleAsync(s.Settle, CancellationToken.None);
        long? rssEnd = pid is { } q ? ProcessMemory.ResidentBytes(q) : null;
        return new SoakResult(s, server, mix.Malformed.Count, warmup, warmupTime, s.Warmup > TimeSpan.Zero ? pool.Filled : null, tally, loadTime,
            stop.IsCancellationRequested, idle.Snapshot, after.Snapshot, after.Problem, after.Waited, pid, rssStart, rssEnd, Math.Max(rssPeak, rssEnd ?? 0));
    }

    /// <summary>
    /// Every client sends the mix, one request after another, until <paramref name="over"/> says so (given the time
    /// since the start; a request under way then finishes) or Ctrl-C. <paramref name="tick"/> runs every few seconds
    /// meanwhile, and its line is printed every <see cref="ProgressEvery"/>. Returns how long the load ran.
    /// </summary>
    private static async Task<TimeSpan> LoadAsync(SoakClient client, SoakMix mix, Random[] randoms, SoakTally tally, Func<TimeSpan, bool> over,
        CancellationToken stop, Func<TimeSpan, Task<string>> tick, TextWriter stderr)
    {
        long start = Stopwatch.GetTimestamp();
        bool Running() => !stop.IsCancellationRequested && !over(Stopwatch.GetElapsedTime(start));
        var clients = randoms.Select(random => Task.Run(async () =>
        {
            while (Running())
            {
                var request = mix.Next(random);
                var outcome = await client.SendAsync(request);
                tally.Add(request, outcome);
                if (outcome.Outcome == Outcome.Rejected)
                    await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None); // the queue is full: back off as a client would
            }
        })).ToArray();
        var all = Task.WhenAll(clients);
        long lastLine = start;
        while (await Task.WhenAny(all, Task.Delay(TickEvery, CancellationToken.None)) != all)
        {
            string line = await tick(Stopwatch.GetElapsedTime(start));
            if (Stopwatch.GetElapsedTime(lastLine) >= ProgressEvery)
            {
                stderr.WriteLine($"soak: {line}");
                lastLine = Stopwatch.GetTimestamp();
            }
        }

        await all;
        return Stopwatch.GetElapsedTime(start);
    }

    /// <summary>
    /// Whether the KV pool has been filled once (95 % of its blocks in use, the prefix cache's included): the pool is
    /// reserved at start, but its pages become resident only as blocks are first used, which is not growth to count.
    /// A server without Tern's block counts has nothing to wait for.
    /// </summary>
    private sealed class PoolFill
    {
        public double Peak { get; private set; }

        public bool Filled { get; private set; }

        public void See(KvSnapshot? k)
        {
            if (k is { BlocksUsed: { } used, BlocksTotal: > 0 and { } total })
            {
                Peak = Math.Max(Peak, used / total);
                Filled |= used >= 0.95 * total;
            }
            else if (k is not null)
            {
                Filled = true;
            }
        }
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    internal static string Format(TimeSpan t) =>
        t.TotalSeconds < 60 ? $"{t.TotalSeconds:0.#} s" : t.TotalMinutes < 60 ? $"{t.TotalMinutes:0.#} min" : $"{t.TotalHours:0.##} h";
}
