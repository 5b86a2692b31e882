using System.Globalization;
using System.Text;

namespace Tern.Chat;

/// <summary>
/// Python's str methods over .NET strings. Indexes and lengths count code points, as Python does, so an emoji is
/// one character; whitespace is Python's <c>str.isspace</c> set.
/// </summary>
internal static class PyStr
{
    /// <summary>No single string operation may build more than this many characters (a guard before allocating).</summary>
    public const int MaxBuiltLength = 1 << 22;

    public static readonly char[] WhitespaceChars =
        Enumerable.Range(0, 0x10000).Select(i => (char)i).Where(IsWhitespace).ToArray();

    public static bool IsWhitespace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;

    public static int Length(string s) => HasSurrogates(s) ? Chars(s).Length : s.Length;

    /// <summary>The code point at <paramref name="index"/> (already bounds-checked in code points).</summary>
    public static string CharAt(string s, int index) => HasSurrogates(s) ? Chars(s)[index].Value : s[index].ToString();

    public static StringValue[] Chars(string s)
    {
        if (!HasSurrogates(s))
            return s.Select(c => StringValue.Of(c.ToString())).ToArray();
        var chars = new List<StringValue>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            int width = char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
            chars.Add(StringValue.Of(s.Substring(i, width)));
            i += width - 1;
        }
        return [.. chars];
    }

    /// <summary>Code point index of a UTF-16 index (for find/index results).</summary>
    public static int CodePointIndex(string s, int utf16Index) =>
        utf16Index <= 0 || !HasSurrogates(s) ? utf16Index : Length(s[..utf16Index]);

    public static int CompareCodePoints(string a, string b)
    {
        int i = 0;
        while (i < a.Length && i < b.Length)
        {
            int x = CodePointAt(a, i), y = CodePointAt(b, i);
            if (x != y)
                return x.CompareTo(y);
            i += x > 0xFFFF ? 2 : 1;
        }
        return a.Length.CompareTo(b.Length);
    }

    private static int CodePointAt(string s, int i) =>
        char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? char.ConvertToUtf32(s[i], s[i + 1]) : s[i];

    public static string Strip(string s, string? chars, bool left, bool right)
    {
        char[] set = chars is null ? WhitespaceChars : chars.ToCharArray();
        if (left && right)
            return s.Trim(set);
        return left ? s.TrimStart(set) : s.TrimEnd(set);
    }

    /// <summary>Python's <c>str.split(sep=None, maxsplit=-1)</c>.</summary>
    public static List<string> Split(string s, string? sep, long maxSplit)
    {
        var parts = new List<string>();
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsWhitespace(s[i]))
                    i++;
                if (i >= s.Length)
                    break;
                if (maxSplit >= 0 && parts.Count >= maxSplit)
                {
                    parts.Add(s[i..].TrimEnd(WhitespaceChars));
                    break;
                }
                int start = i;
                while (i < s.Length && !IsWhitespace(s[i]))
                    i++;
                parts.Add(s[start..i]);
            }
            return parts;
        }
        if (sep.Length == 0)
            throw new TemplateException("empty separator");
        int from = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            int at = s.IndexOf(sep, from, StringComparison.Ordinal);
            if (at < 0)
                break;
            parts.Add(s[from..at]);
            from = at + sep.Length;
        }
        parts.Add(s[from..]);
        return parts;
    }

    /// <summary>Python's <c>str.rsplit(sep=None, maxsplit=-1)</c>.</summary>
    public static List<string> RSplit(string s, string? sep, long maxSplit)
    {
        if (maxSplit < 0)
            return Split(s, sep, maxSplit);
        var parts = new List<string>();
        if (sep is null)
        {
            int i = s.Length;
            while (true)
            {
                while (i > 0 && IsWhitespace(s[i - 1]))
                    i--;
                if (i <= 0)
                    break;
                if (parts.Count >= maxSplit)
                {
                    parts.Add(s[..i].TrimStart(WhitespaceChars));
                    break;
                }
                int end = i;
                while (i > 0 && !IsWhitespace(s[i - 1]))
                    i--;
                parts.Add(s[i..end]);
            }
            parts.Reverse();
            return parts;
        }
        if (sep.Length == 0)
            throw new TemplateException("empty separator");
        int to = s.Length;
        while (parts.Count < maxSplit && to > 0)
        {
            int at = s.LastIndexOf(sep, to - 1, StringComparison.Ordinal);
            if (at < 0 || at + sep.Length > to)
                break;
            parts.Add(s[(at + sep.Length)..to]);
            to = at;
        }
        parts.Add(s[..to]);
        parts.Reverse();
        return parts;
    }

    /// <summary>Python's <c>str.splitlines()</c>: \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029 end lines.</summary>
    public static List<string> SplitLines(string s, bool keepEnds = false)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is not ('\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029'))
                continue;
            int end = c == '\r' && i + 1 < s.Length && s[i + 1] == '\n' ? i + 2 : i + 1;
            lines.Add(keepEnds ? s[start..end] : s[start..i]);
            start = end;
            i = end - 1;
        }
        if (start < s.Length)
            lines.Add(s[start..]);
        return lines;
    }

    /// <summary>Python's <c>str.title()</c>: a cased letter after an uncased character starts a word.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            bool upper = char.IsUpper(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;
            if (upper)
                sb.Append(previousCased ? char.ToLowerInvariant(c) : c);
            else if (char.IsLower(c))
                sb.Append(previousCased ? c : char.ToUpperInvariant(c));
            else
                sb.Append(c);
            previousCased = upper || char.IsLower(c);
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    public static string SwapCase(string s) =>
        string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.IsLower(c) ? char.ToUpperInvariant(c) : c));

    public static string Pad(string s, long width, char fill, char align)
    {
        int length = Length(s);
        if (width <= length)
            return s;
        if (width > MaxBuiltLength)
            throw new TemplateException($"padding width {width} is too large");
        int total = (int)Math.Min(width - length, int.MaxValue / 2);
        return align switch
        {
            '<' => s + new string(fill, total),
            '>' => new string(fill, total) + s,
            // Python's center puts the odd extra character on the left when the length is odd
            _ => new string(fill, (int)(total / 2 + (total & width & 1))) + s + new string(fill, (int)(total - (total / 2 + (total & width & 1)))),
        };
    }

    /// <summary><paramref name="s"/> <paramref name="count"/> times over, copied in doubling blocks.</summary>
    public static string Repeat(string s, int count) => string.Create(s.Length * count, s, (span, text) =>
    {
        text.CopyTo(span);
        for (int filled = text.Length; filled < span.Length; filled *= 2)
            span[..Math.Min(filled, span.Length - filled)].CopyTo(span[filled..]);
    });

    /// <summary>Python's <c>str.replace(old, new, count=-1)</c>.</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        long occurrences = old.Length == 0 ? Length(s) + 1 : CountOccurrences(s, old);
        if (count >= 0)
            occurrences = Math.Min(occurrences, count);
        if (s.Length + occurrences * (replacement.Length - (long)old.Length) > MaxBuiltLength)
            throw new TemplateException("replace would build a string beyond the template limits");
        if (count < 0)
            return old.Length == 0 ? Replace(s, old, replacement, long.MaxValue) : s.Replace(old, replacement, StringComparison.Ordinal);
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            var chars = Chars(s);
            long done = 0;
            for (int i = 0; i <= chars.Length; i++)
            {
                if (done++ < count)
                    sb.Append(replacement);
                if (i < chars.Length)
                    sb.Append(chars[i].Value);
            }
            return sb.ToString();
        }
        int from = 0;
        for (long n = 0; n < count; n++)
        {
            int at = s.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0)
                break;
            sb.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
        }
        return sb.Append(s, from, s.Length - from).ToString();
    }

    public static long CountOccurrences(string s, string sub)
    {
        long count = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    /// <summary>HTML escaping as Jinja2's <c>escape</c> filter does it.</summary>
    public static string HtmlEscape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal)
        .Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal)
        .Replace("\"", "&#34;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);
}
