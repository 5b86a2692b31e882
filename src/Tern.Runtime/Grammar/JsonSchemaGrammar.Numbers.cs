using System.Text.Json;

namespace Tern.Runtime.Grammar;

// Integers and numbers with bounds: exact digit-range grammars for the integers (as llama.cpp's
// _generate_min_max_int), and for bounded numbers an integer part whose whole unit interval lies within the bounds,
// followed by a fraction that ends in a non-zero digit (so the value is strictly inside that interval). No exponents.
public sealed partial class JsonSchemaGrammar
{
    private const int MaxDigits = 16;

    private string VisitNumber(JsonElement s, bool integer, string name, string path)
    {
        decimal? lo = Bound(s, "minimum", path), hi = Bound(s, "maximum", path);
        decimal? xlo = Bound(s, "exclusiveMinimum", path), xhi = Bound(s, "exclusiveMaximum", path);
        if (lo is null && hi is null && xlo is null && xhi is null)
            return Primitive(integer ? "integer" : "number");

        // the integers allowed: [minInt, maxInt]
        long? minInt = Max(lo is { } a ? Ceiling(a) : null, xlo is { } b ? Floor(b) + 1 : null);
        long? maxInt = Min(hi is { } c ? Floor(c) : null, xhi is { } d ? Ceiling(d) - 1 : null);
        var alternatives = new List<string>();
        if (!(minInt > maxInt))
            alternatives.Add(IntegerRange(minInt, maxInt));
        if (!integer)
        {
            // i.f with i >= 0 lies in (i, i + 1): needs every real in it allowed
            decimal? low = Max2(lo, xlo), high = Min2(hi, xhi);
            long? iMin = low is { } l ? Math.Max(0, Ceiling(l)) : 0;
            long? iMax = high is { } h ? Floor(h) - 1 : null;
            string fraction = "\".\" [0-9]{0,14} [1-9]";
            if (!(iMin > iMax))
                alternatives.Add(NonNegativeRange(iMin ?? 0, iMax) + " " + fraction);
            // -k.f lies in (-k - 1, -k)
            long? kMin = high is { } h2 ? Math.Max(0, Ceiling(-h2)) : 0;
            long? kMax = low is { } l2 ? Floor(-l2) - 1 : null;
            if (!(kMin > kMax))
                alternatives.Add("\"-\" " + NonNegativeRange(kMin ?? 0, kMax) + " " + fraction);
        }

        if (alternatives.Count == 0)
            throw Unsupported("bounds that no " + (integer ? "integer" : "number") + " satisfies", path);
        Primitive("space");
        return AddRule(name, "( " + string.Join(" | ", alternatives) + " ) space");
    }

    private static decimal? Bound(JsonElement s, string keyword, string path)
    {
        if (!s.TryGetProperty(keyword, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.Number)
            throw Unsupported($"'{keyword}' that is not a number", path);
        if (!v.TryGetDecimal(out decimal d))
            throw Unsupported($"'{keyword}' of magnitude 1e15 or more", path);
        if (Math.Abs(d) >= 1e15m)
            throw Unsupported($"'{keyword}' of magnitude 1e15 or more", path);
        return d;
    }

    private static long Floor(decimal d) => (long)Math.Floor(d);

    private static long Ceiling(decimal d) => (long)Math.Ceiling(d);

    private static long? Max(long? a, long? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);

    private static long? Min(long? a, long? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);

    private static decimal? Max2(decimal? a, decimal? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);

    private static decimal? Min2(decimal? a, decimal? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);

    /// <summary>Decimal integers (no leading zeros, no "-0") in [min, max]; a missing end is open (up to 16 digits).</summary>
    internal static string IntegerRange(long? min, long? max)
    {
        var parts = new List<string>();
        if (min is null || min < 0)
        {
            // negatives in [min, min(max, -1)]: their magnitudes
            long kMin = max is { } m && m < 0 ? -m : 1;
            long? kMax = min is { } n ? -n : null;
            if (!(kMin > kMax))
                parts.Add("\"-\" " + NonNegativeRange(kMin, kMax));
        }

        if (max is null || max >= 0)
        {
            long lo = Math.Max(0, min ?? 0);
            if (!(lo > max))
                parts.Add(NonNegativeRange(lo, max));
        }

        return parts.Count == 1 ? parts[0] : "( " + string.Join(" | ", parts) + " )";
    }

    /// <summary>Decimal integers in [lo, hi] (lo >= 0); hi null = up to 16 digits.</summary>
    internal static string NonNegativeRange(long lo, long? hi)
    {
        var parts = new List<string>();
        int loDigits = Digits(lo);
        int hiDigits = hi is { } h ? Digits(h) : MaxDigits;
        for (int length = loDigits; length <= hiDigits; length++)
        {
            long first = length == 1 ? 0 : Pow10(length - 1);
            long last = Pow10(length) - 1;
            long a = Math.Max(lo, first);
            long b = hi is { } h2 ? Math.Min(h2, last) : last;
            if (a > b)
                continue;
            parts.Add(SameLength(a.ToString(System.Globalization.CultureInfo.InvariantCulture), b.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        return parts.Count == 1 ? parts[0] : "( " + string.Join(" | ", parts) + " )";
    }

    /// <summary>The digit strings of equal length from a to b inclusive.</summary>
    private static string SameLength(string a, string b)
    {
        if (a.Length == 0)
            return "";
        if (a == b)
            return "\"" + a + "\"";
        if (a.All(c => c == '0') && b.All(c => c == '9'))
            return a.Length == 1 ? "[0-9]" : $"[0-9]{{{a.Length}}}";
        if (a[0] == b[0])
            return $"\"{a[0]}\" {SameLength(a[1..], b[1..])}";
        var alternatives = new List<string>();
        string rest = a.Length == 1 ? "" : " " + (a.Length == 2 ? "[0-9]" : $"[0-9]{{{a.Length - 1}}}");
        // from a up to a[0]99..9
        char from = a[0];
        if (a[1..].All(c => c == '0'))
        {
            // a[0]00..0 is the start of a whole block: fold it into the middle
        }
        else
        {
            alternatives.Add($"\"{a[0]}\" ({SameLength(a[1..], new string('9', a.Length - 1))})");
            from++;
        }

        char to = b[0];
        bool bFull = b[1..].All(c => c == '9');
        if (!bFull)
            to--;
        if (from <= to)
            alternatives.Add((from == to ? $"\"{from}\"" : $"[{from}-{to}]") + rest);
        if (!bFull)
            alternatives.Add($"\"{b[0]}\" ({SameLength(new string('0', b.Length - 1), b[1..])})");
        return "( " + string.Join(" | ", alternatives) + " )";
    }

    private static int Digits(long n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;

    private static long Pow10(int n)
    {
        long p = 1;
        for (int i = 0; i < n; i++)
            p *= 10;
        return p;
    }
}
