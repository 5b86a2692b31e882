using System.Globalization;
using System.Text;

namespace Tern.Runtime.Grammar;

/// <summary>Writes GBNF pieces: literals and character classes with every code point escaped as GBNF reads it back.</summary>
public static class GbnfText
{
    /// <summary>A GBNF literal matching exactly <paramref name="text"/>: <c>"..."</c>.</summary>
    public static string Literal(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder("\"");
        foreach (var rune in text.EnumerateRunes())
            sb.Append(Char(rune.Value, inClass: false));
        return sb.Append('"').ToString();
    }

    /// <summary>One code point inside a literal or a class.</summary>
    public static string Char(int codePoint, bool inClass)
    {
        if (codePoint < 0x80 && (char.IsAsciiLetterOrDigit((char)codePoint) || " _,:.{}@+=#()*?|".Contains((char)codePoint)))
            return ((char)codePoint).ToString();
        if (!inClass && codePoint is '[' or ']' or '-' or '^')
            return ((char)codePoint).ToString();
        return codePoint switch
        {
            < 0x100 => "\\x" + codePoint.ToString("X2", CultureInfo.InvariantCulture),
            < 0x10000 => "\\u" + codePoint.ToString("X4", CultureInfo.InvariantCulture),
            _ => "\\U" + codePoint.ToString("X8", CultureInfo.InvariantCulture),
        };
    }

    /// <summary>A class of inclusive code point ranges: <c>[a-z0-9]</c>, or <c>[^...]</c> when negated.</summary>
    public static string Class(IEnumerable<(int Lo, int Hi)> ranges, bool negated)
    {
        var sb = new StringBuilder(negated ? "[^" : "[");
        foreach (var (lo, hi) in ranges)
        {
            sb.Append(Char(lo, inClass: true));
            if (hi > lo)
                sb.Append('-').Append(Char(hi, inClass: true));
        }

        return sb.Append(']').ToString();
    }
}
