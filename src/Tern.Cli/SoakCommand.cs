using System.CommandLine;
using Tern.Cli.Soak;

namespace Tern.Cli;

/// <summary>
/// `tern soak --url URL [--clients 16] [--duration 2m] [--warmup 60s] [--api-key KEY] [--model NAME] [--pid PID]
/// [--max-rss-growth 0.05] [--json FILE]`: many clients against a running `tern serve`, mixing every way a request
/// can go (see <see cref="SoakMix"/>); it fails on any unexpected error, on RSS growth after the warm-up, and on KV
/// blocks still held once the load is over.
/// </summary>
public static class SoakCommand
{
    private const string Description = """
        Soak a running tern serve: N clients for a while, each looping over a seeded mix of short and long prompts,
        prompts sharing long prefixes, streamed and whole answers, streams closed after a few chunks, connections
        aborted before the answer, and malformed requests that must get their 4xx. Prints requests by kind, unexpected
        errors (5xx, wrong status, dropped connections, malformed SSE, timeouts), p50/p99 latency and time to first
        token, the server's RSS after the warm-up and at the end, and /metrics once the server has settled.
        Exit code 1 when there was an unexpected error, the RSS grew more than --max-rss-growth, or a request still held
        KV blocks after the load; 130 after Ctrl-C (which stops the load and still reports).
        The server's RSS is read from /proc/PID/status: --pid, or the process listening on the URL's port when the URL
        is loopback (a server of this user on this machine); elsewhere it is not measured.
        """;

    public static Command Create(TextWriter stdout)
    {
        var url = new Option<string>("--url") { Description = "the server", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var apiKey = new Option<string?>("--api-key") { Description = "sent as 'Authorization: Bearer KEY' (or set TERN_API_KEY)" };
        var model = new Option<string?>("--model", "-m") { Description = "the requests' model (router mode) and /metrics?model=" };
        var clients = new Option<int>("--clients") { Description = "concurrent clients", DefaultValueFactory = _ => 16 };
        var duration = new Option<string>("--duration") { Description = "the measured load, e.g. 90s, 2m, 30m", DefaultValueFactory = _ => "2m" };
        var warmup = new Option<string>("--warmup") { Description = "the same mix first, before the start RSS is read, and longer until the KV pool has been filled once (0: none)", DefaultValueFactory = _ => "60s" };
        var settle = new Option<string>("--settle") { Description = "how long the server may take to go idle after the load", DefaultValueFactory = _ => "30s" };
        var timeout = new Option<string>("--timeout") { Description = "a request unanswered this long is an unexpected error", DefaultValueFactory = _ => "5m" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "largest max_tokens of a request (each draws 1..N)", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { Description = "seed of the mix (the same seed sends the same requests)", DefaultValueFactory = _ => 42 };
        var pid = new Option<int?>("--pid") { Description = "the server's process id, for its RSS (default: the process listening on a loopback URL's port)" };
        var maxRssGrowth = new Option<double>("--max-rss-growth") { Description = "most RSS growth from after the warm-up to the end, a fraction", DefaultValueFactory = _ => 0.05 };
        var json = new Option<string?>("--json") { Description = "also write the numbers to FILE as JSON" };
        var command = new Command("soak", Description)
        {
            url, apiKey, model, clients, duration, warmup, settle, timeout, maxTokens, seed, pid, maxRssGrowth, json,
        };
        // A synchronous action, as bench's: Ctrl-C is ours (stop the load, still report), not System.CommandLine's.
        command.SetAction(parse =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            string address = parse.GetValue(url)!;
            var settings = new SoakSettings
            {
                Url = Uri.TryCreate(address, UriKind.Absolute, out var u) ? u : throw new ArgumentException($"--url must be an http:// address, got '{address}'"),
                ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("TERN_API_KEY"),
                Model = parse.GetValue(model),
                Clients = parse.GetValue(clients),
                Duration = SoakSettings.ParseDuration(parse.GetValue(duration)!, "--duration"),
                Warmup = SoakSettings.ParseDuration(parse.GetValue(warmup)!, "--warmup"),
                Settle = SoakSettings.ParseDuration(parse.GetValue(settle)!, "--settle"),
                Timeout = SoakSettings.ParseDuration(parse.GetValue(timeout)!, "--timeout"),
                MaxTokens = parse.GetValue(maxTokens),
                Seed = parse.GetValue(seed),
                Pid = parse.GetValue(pid),
                MaxRssGrowth = parse.GetValue(maxRssGrowth),
                JsonPath = parse.GetValue(json),
            };
            return RunAsync(settings, stdout, stderr, CancellationToken.None).GetAwaiter().GetResult();
        });
        return command;
    }

    /// <summary>Runs the soak, prints the summary (and writes the JSON); the exit code says whether it passed.</summary>
    internal static async Task<int> RunAsync(SoakSettings settings, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            // The first Ctrl-C stops the load and still reports; a second one ends the process.
            e.Cancel = !interrupt.IsCancellationRequested;
            interrupt.Cancel();
        }

        Console.CancelKeyPress += OnCancel;
        try
        {
            var result = await SoakRun.RunAsync(settings, stderr, interrupt.Token);
            result.WriteSummary(stdout);
            if (settings.JsonPath is { } path)
                result.WriteJson(path);
            return result.ExitCode;
        }
        finally
        {
            Console.CancelKeyPress -= OnCancel;
        }
    }
}
