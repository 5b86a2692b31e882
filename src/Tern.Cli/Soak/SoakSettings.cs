using System.Globalization;
using System.Text.RegularExpressions;

namespace Tern.Cli.Soak;

/// <summary>What `tern soak` runs: against which server, how many clients, for how long, and its pass limits.</summary>
internal sealed partial record SoakSettings
{
    public required Uri Url { get; init; }

    public string? ApiKey { get; init; }

    /// <summary>The request's <c>model</c> (router mode picks by it; one-model servers ignore it) and <c>/metrics?model=</c>.</summary>
    public string? Model { get; init; }

    public int Clients { get; init; } = 16;

    /// <summary>The measured load, after the warm-up.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The same mix before the measured load, at least this long and on until the KV pool has been filled once: the
    /// server's start RSS is read after it (see README).
    /// </summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long to wait for the server to go idle (no request running, no block held) after each phase.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>One request's limit: a request still unanswered then counts as an unexpected error.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);

    public int Seed { get; init; } = 42;

    /// <summary>Largest max_tokens of a well-formed request (each draws 1..this).</summary>
    public int MaxTokens { get; init; } = 64;

    /// <summary>The server's process; null: the process listening on the URL's port, when that is on this machine.</summary>
    public int? Pid { get; init; }

    /// <summary>Most RSS growth from after the warm-up to the end, as a fraction (0.05 = 5 %).</summary>
    public double MaxRssGrowth { get; init; } = 0.05;

    public string? JsonPath { get; init; }

    public void Validate()
    {
        if (Url.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--url must be an http:// or https:// address, got '{Url}'");
        ServeCommand.Check(Clients, 1, 1024, "--clients");
        ServeCommand.Check(MaxTokens, 1, 1 << 20, "--max-tokens");
        if (Duration <= TimeSpan.Zero)
            throw new ArgumentException("--duration must be above 0");
        if (MaxRssGrowth < 0)
            throw new ArgumentException($"--max-rss-growth must be 0 or more, got {MaxRssGrowth.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>A duration such as 90s, 2m, 30m, 1h, 500ms, or a number of seconds; <paramref name="flag"/> names it in the error.</summary>
    public static TimeSpan ParseDuration(string text, string flag)
    {
        var m = DurationPattern().Match(text.Trim());
        if (!m.Success || !double.TryParse(m.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value))
            throw new ArgumentException($"{flag} must be a duration such as 90s, 2m, 30m or 1h, got '{text}'");
        double seconds = m.Groups[2].Value switch
        {
            "ms" => value / 1000,
            "m" => value * 60,
            "h" => value * 3600,
            _ => value,
        };
        return TimeSpan.FromSeconds(seconds);
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")]
    private static partial Regex DurationPattern();
}
