using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Tern.Cli.Soak;

/// <summary>
/// One soak: learn the server's shape, run the mix for the warm-up, let the server settle and read its RSS, run the
/// measured load, let it settle again and read /metrics and the RSS once more.
/// </summary>
internal static class SoakRun
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RssEvery = TimeSpan.FromSeconds(5);

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
        if (s.Warmup > TimeSpan.Zero)
        {
            stderr.WriteLine($"soak: warming up for {Format(s.Warmup)}");
            await LoadAsync(client, mix, randoms, warmup, s.Warmup, stop, null);
        }

        var idle = await probe.SettleAsync(s.Settle, CancellationToken.None);
        long? rssStart = pid is { } p ? ProcessMemory.ResidentBytes(p) : null;
        long rssPeak = rssStart ?? 0;
        var tally = new SoakTally();
        stderr.WriteLine($"soak: load for {Format(s.Duration)}");
        long started = Stopwatch.GetTimestamp();
        await LoadAsync(client, mix, randoms, tally, s.Duration, stop, () =>
        {
            if (pid is { } id && ProcessMemory.ResidentBytes(id) is { } rss)
                rssPeak = Math.Max(rssPeak, rss);
            return $"{Stopwatch.GetElapsedTime(started).TotalSeconds:F0}/{s.Duration.TotalSeconds:F0} s, {tally.Requests} requests, {tally.Unexpected} unexpected";
        }, stderr);
        var loadTime = Stopwatch.GetElapsedTime(started);

        var after = await probe.SettleAsync(s.Settle, CancellationToken.None);
        long? rssEnd = pid is { } q ? ProcessMemory.ResidentBytes(q) : null;
        return new SoakResult(s, server, mix.Malformed.Count, warmup, tally, loadTime, stop.IsCancellationRequested, idle.Snapshot,
            after.Snapshot, after.Problem, after.Waited, pid, rssStart, rssEnd, Math.Max(rssPeak, rssEnd ?? 0));
    }

    /// <summary>
    /// Every client sends the mix, one request after another, until <paramref name="duration"/> has passed (a request
    /// under way then finishes). <paramref name="progress"/>, when given, is sampled every few seconds for the RSS
    /// peak and its line printed every <see cref="ProgressEvery"/>.
    /// </summary>
    private static async Task LoadAsync(SoakClient client, SoakMix mix, Random[] randoms, SoakTally tally, TimeSpan duration, CancellationToken stop,
        Func<string>? progress, TextWriter? stderr = null)
    {
        long end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        bool Running() => !stop.IsCancellationRequested && Stopwatch.GetTimestamp() < end;
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
        if (progress is not null)
        {
            long lastLine = Stopwatch.GetTimestamp();
            while (await Task.WhenAny(all, Task.Delay(RssEvery, CancellationToken.None)) != all)
            {
                string line = progress();
                if (Stopwatch.GetElapsedTime(lastLine) >= ProgressEvery)
                {
                    stderr?.WriteLine($"soak: {line}");
                    lastLine = Stopwatch.GetTimestamp();
                }
            }
        }

        await all;
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    internal static string Format(TimeSpan t) =>
        t.TotalSeconds < 60 ? $"{t.TotalSeconds:0.#} s" : t.TotalMinutes < 60 ? $"{t.TotalMinutes:0.#} min" : $"{t.TotalHours:0.##} h";
}
