namespace Tern.Runtime.Grammar;

/// <summary>A set of code points: sorted, merged inclusive ranges, possibly negated (<c>[^...]</c>; <c>.</c> is the negated empty set).</summary>
internal sealed class CharSet
{
    private readonly int[] _ranges; // lo0, hi0, lo1, hi1, ... sorted and merged

    public CharSet(IEnumerable<(int Lo, int Hi)> ranges, bool negated)
    {
        var merged = new List<int>();
        foreach (var (lo, hi) in ranges.Where(r => r.Lo <= r.Hi).OrderBy(r => r.Lo))
        {
            if (merged.Count > 0 && lo <= merged[^1] + 1)
                merged[^1] = Math.Max(merged[^1], hi);
            else
                merged.AddRange([lo, hi]);
        }

        _ranges = [.. merged];
        Negated = negated;
    }

    public static CharSet Single(int codePoint) => new([(codePoint, codePoint)], false);

    public bool Negated { get; }

    public bool Matches(int codePoint)
    {
        var r = _ranges;
        for (int i = 0; i < r.Length; i += 2)
        {
            if (codePoint < r[i])
                break;
            if (codePoint <= r[i + 1])
                return !Negated;
        }

        return Negated;
    }

    /// <summary>Whether some code point in [lo, hi] is in the set (to prune a character whose UTF-8 bytes have only begun).</summary>
    public bool Intersects(int lo, int hi)
    {
        var r = _ranges;
        if (!Negated)
        {
            for (int i = 0; i < r.Length; i += 2)
            {
                if (r[i] <= hi && r[i + 1] >= lo)
                    return true;
            }

            return false;
        }

        // negated: some point of [lo, hi] escapes every excluded range
        int next = lo;
        for (int i = 0; i < r.Length && next <= hi; i += 2)
        {
            if (r[i] > next)
                return true;
            if (r[i + 1] >= next)
                next = r[i + 1] + 1;
        }

        return next <= hi;
    }
}
