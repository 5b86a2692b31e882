using System.Globalization;
using System.Text;

namespace Tern.Tokenizers;

/// <summary>The coarse Unicode classes llama.cpp's pre-tokenizers work with.</summary>
internal enum CodepointClass : byte
{
    Other,
    Letter,
    Number,
    Punctuation,
    Symbol,
    AccentMark,
    Whitespace,
}

/// <summary>Code point decoding and classification shared by the pre-tokenizers and WordPiece.</summary>
internal static class Codepoints
{
    /// <summary>
    /// The Unicode White_Space property, the set llama.cpp treats as whitespace (it excludes U+001C..U+001F,
    /// which <see cref="char.IsWhiteSpace(char)"/> includes).
    /// </summary>
    public static bool IsWhitespace(int cp) =>
        cp is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    public static CodepointClass Classify(int cp)
    {
        if (IsWhitespace(cp))
            return CodepointClass.Whitespace;
        return CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
                => CodepointClass.Number,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointClass.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointClass.Symbol,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                => CodepointClass.AccentMark,
            _ => CodepointClass.Other,
        };
    }

    /// <summary>Categories Cc, Cf, Cs and Co (llama.cpp files unassigned code points apart, as undefined).</summary>
    public static bool IsControl(int cp) => CharUnicodeInfo.GetUnicodeCategory(cp) is UnicodeCategory.Control
        or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse;

    /// <summary>
    /// Splits a string into code points and remembers where each starts in UTF-16 units (the last entry of
    /// <paramref name="charStarts"/> is the string length). Lone surrogates become U+FFFD, as invalid UTF-8
    /// does in llama.cpp.
    /// </summary>
    public static int[] Decode(string text, out int[] charStarts)
    {
        var cps = new List<int>(text.Length);
        var starts = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length;)
        {
            starts.Add(i);
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out int consumed) == System.Buffers.OperationStatus.Done)
            {
                cps.Add(rune.Value);
                i += consumed;
            }
            else
            {
                cps.Add(0xFFFD);
                i += Math.Max(consumed, 1);
            }
        }
        starts.Add(text.Length);
        charStarts = starts.ToArray();
        return cps.ToArray();
    }
}
