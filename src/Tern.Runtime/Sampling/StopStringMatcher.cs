namespace Tern.Runtime.Sampling;

/// <summary>What a <see cref="StopStringMatcher"/> lets out after a chunk.</summary>
/// <param name="Text">Text safe to emit now (before the stop string, if one matched).</param>
/// <param name="StopString">The stop string that matched, or null.</param>
public readonly record struct StopMatch(string Text, string? StopString)
{
    public bool Stopped => StopString is not null;
}

/// <summary>
/// Watches streamed text for stop strings. Text that could still be the start of a stop string is held back,
/// so a stop string split over several tokens is caught and no part of it is ever emitted; on a match only the
/// text before it comes out. One per sequence.
/// </summary>
public sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private string _held = "";

    /// <param name="stopStrings">The stop strings; empty ones are ignored.</param>
    public StopStringMatcher(IEnumerable<string> stopStrings)
    {
        ArgumentNullException.ThrowIfNull(stopStrings);
        _stops = stopStrings.Where(s => !string.IsNullOrEmpty(s)).Distinct(StringComparer.Ordinal).ToArray();
    }

    public IReadOnlyList<string> StopStrings => _stops;

    /// <summary>The stop string that matched, once one has.</summary>
    public string? Matched { get; private set; }

    /// <summary>Feeds the next piece of decoded text.</summary>
    public StopMatch Push(string chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        if (Matched is not null)
            throw new InvalidOperationException($"Stop string \"{Matched}\" already matched.");
        if (_stops.Length == 0)
            return new StopMatch(chunk, null);

        string text = _held + chunk;
        var (index, stop) = FindEarliest(text);
        if (stop is not null)
        {
            Matched = stop;
            _held = "";
            return new StopMatch(text[..index], stop);
        }
        int hold = LongestPartialSuffix(text);
        _held = text[^hold..];
        return new StopMatch(text[..^hold], null);
    }

    /// <summary>Ends the stream: returns the text still held back (it cannot become a stop string any more).</summary>
    public string Flush()
    {
        string rest = _held;
        _held = "";
        return rest;
    }

    // Earliest match wins (the text before it is what must go out); at the same position, the longest.
    private (int Index, string? Stop) FindEarliest(string text)
    {
        int bestIndex = int.MaxValue;
        string? best = null;
        foreach (string stop in _stops)
        {
            int i = text.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0 && (i < bestIndex || (i == bestIndex && stop.Length > best!.Length)))
            {
                bestIndex = i;
                best = stop;
            }
        }
        return (bestIndex, best);
    }

    // The longest suffix of text that is a proper prefix of some stop string: it may still grow into a match.
    private int LongestPartialSuffix(string text)
    {
        int longest = 0;
        foreach (string stop in _stops)
        {
            for (int length = Math.Min(stop.Length - 1, text.Length); length > longest; length--)
            {
                if (text.AsSpan(text.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    longest = length;
                    break;
                }
            }
        }
        return longest;
    }
}
