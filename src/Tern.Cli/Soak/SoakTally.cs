using System.Collections.Concurrent;

namespace Tern.Cli.Soak;

/// <summary>The counts and latencies of one phase of a soak, added to by every client at once.</summary>
internal sealed class SoakTally
{
    private const int MaxExamples = 20;
    private readonly object _gate = new();
    private readonly List<double> _latencyMs = [];
    private readonly List<double> _firstTokenMs = [];
    private readonly List<string> _examples = [];
    private int _requests;
    private int _unexpected;

    public ConcurrentDictionary<string, int> ByKind { get; } = new();

    public ConcurrentDictionary<Outcome, int> ByOutcome { get; } = new();

    /// <summary>Unexpected errors by their cause ("status 500", "dropped connection", ...).</summary>
    public ConcurrentDictionary<string, int> UnexpectedByCause { get; } = new();

    public int Requests => Volatile.Read(ref _requests);

    public int Unexpected => Volatile.Read(ref _unexpected);

    /// <summary>The first unexpected errors, each with its request.</summary>
    public IReadOnlyList<string> Examples
    {
        get
        {
            lock (_gate)
                return [.. _examples];
        }
    }

    /// <summary>Whole-answer latency of the completed requests, milliseconds, sorted.</summary>
    public IReadOnlyList<double> LatencyMs => Sorted(_latencyMs);

    /// <summary>Time to the first content chunk of streams, milliseconds, sorted.</summary>
    public IReadOnlyList<double> FirstTokenMs => Sorted(_firstTokenMs);

    public void Add(SoakRequest request, SoakOutcome outcome)
    {
        Interlocked.Increment(ref _requests);
        ByKind.AddOrUpdate(request.Kind, 1, (_, n) => n + 1);
        ByOutcome.AddOrUpdate(outcome.Outcome, 1, (_, n) => n + 1);
        lock (_gate)
        {
            if (outcome.Outcome == Outcome.Completed)
                _latencyMs.Add(outcome.Latency.TotalMilliseconds);
            if (outcome.TimeToFirstToken is { } first)
                _firstTokenMs.Add(first.TotalMilliseconds);
            if (outcome.Outcome == Outcome.Unexpected && _examples.Count < MaxExamples)
                _examples.Add($"{outcome.Cause}: {outcome.Detail}");
        }

        if (outcome.Outcome == Outcome.Unexpected)
        {
            Interlocked.Increment(ref _unexpected);
            UnexpectedByCause.AddOrUpdate(outcome.Cause ?? "unknown", 1, (_, n) => n + 1);
        }
    }

    private List<double> Sorted(List<double> values)
    {
        lock (_gate)
        {
            var copy = new List<double>(values);
            copy.Sort();
            return copy;
        }
    }
}

/// <summary>Percentiles by nearest rank: the smallest value with at least p % of the values at or below it.</summary>
internal static class Percentile
{
    /// <summary>The <paramref name="p"/>-th percentile (0 &lt; p ≤ 100) of <paramref name="sorted"/>; null when it is empty.</summary>
    public static double? Of(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0)
            return null;
        int rank = (int)Math.Ceiling(p * sorted.Count / 100);
        return sorted[Math.Clamp(rank, 1, sorted.Count) - 1];
    }
}
