using System.Text.RegularExpressions;

namespace Tern.Tokenizers;

/// <summary>
/// One regex of a pre-tokenizer. llama.cpp runs a regex that uses Unicode categories (<c>\p{L}</c>, ...) on a
/// "collapsed" copy of the text, one character per code point, where every non-ASCII code point is replaced by
/// a stand-in for its category (whitespace by <c>\v</c>), and rewrites each category in the pattern as its
/// stand-in plus a fixed list of ASCII characters; a regex without categories runs on the code points
/// themselves, with non-ASCII whitespace replaced by <c>\v</c>. Both are reproduced here with their quirks:
/// llama.cpp's ASCII list for <c>\p{S}</c> lacks '~', all of <c>\p{Lu}</c>, <c>\p{Ll}</c>, ... mean any
/// letter, and a literal U+3000 in a raw pattern never matches, because U+3000 in the text has become <c>\v</c>.
/// </summary>
internal sealed class PreTokenizerRule
{
    // Category stand-ins in the collapsed text: non-ASCII characters that no pattern names literally
    // (llama.cpp uses the bytes 0xD0..0xD5).
    public const char Letter = '\u00D2';
    public const char Number = '\u00B2';
    public const char Punctuation = '\u00A1';
    public const char Symbol = '\u00A2';
    public const char AccentMark = '\u0300';
    public const char Other = '\u0080';

    // llama.cpp's k_ucat_map: what each category matches among ASCII characters
    private static readonly Dictionary<string, string> CategoryClasses = new(StringComparer.Ordinal)
    {
        [@"\p{N}"] = @"\u00B20-9",
        [@"\p{L}"] = @"\u00D2A-Za-z",
        [@"\p{Lu}"] = @"\u00D2A-Za-z",
        [@"\p{Ll}"] = @"\u00D2A-Za-z",
        [@"\p{Lt}"] = @"\u00D2A-Za-z",
        [@"\p{Lm}"] = @"\u00D2A-Za-z",
        [@"\p{Lo}"] = @"\u00D2A-Za-z",
        [@"\p{P}"] = @"\u00A1!-#%-*,-/:-;?-@\[-\]_\{\}",
        [@"\p{M}"] = @"\u0300",
        [@"\p{S}"] = @"\u00A2\$\+<->\^`\|", // no '~' (sic)
    };

    public PreTokenizerRule(string pattern, bool collapsed)
    {
        Collapsed = collapsed;
        Regex = new Regex(collapsed ? RewriteCategories(pattern) : pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
    }

    public Regex Regex { get; }

    public bool Collapsed { get; }

    public override string ToString() => Regex.ToString();

    /// <summary>llama.cpp's rewrite of <c>\p{..}</c> for the collapsed text, bracketed unless already in a class.</summary>
    internal static string RewriteCategories(string pattern)
    {
        var sb = new System.Text.StringBuilder(pattern.Length * 2);
        bool inside = false;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '[' && (i == 0 || pattern[i - 1] != '\\'))
            {
                sb.Append('[');
                inside = true;
                continue;
            }
            if (inside && c == ']' && pattern[i - 1] != '\\')
            {
                sb.Append(']');
                inside = false;
                continue;
            }
            if (c == '\\' && i + 3 < pattern.Length && pattern[i + 1] == 'p' && pattern[i + 2] == '{')
            {
                int close = pattern.IndexOf('}', i + 3);
                if (close >= 0 && close <= i + 10 && CategoryClasses.TryGetValue(pattern[i..(close + 1)], out string? cls))
                {
                    sb.Append(inside ? cls : "[" + cls + "]");
                    i = close;
                    continue;
                }
            }
            sb.Append(c);
        }
        return sb.ToString();
    }
}

/// <summary>
/// Splits text into words by applying a sequence of regexes, as llama.cpp's <c>unicode_regex_split</c> does:
/// each regex splits every piece left by the previous one into its matches and the gaps between them, and
/// never sees across a piece's boundary.
/// </summary>
internal sealed class PreTokenizer(IReadOnlyList<PreTokenizerRule> rules)
{
    public IReadOnlyList<PreTokenizerRule> Rules { get; } = rules;

    /// <summary>The words of <paramref name="text"/> as (start, length) ranges in UTF-16 units.</summary>
    public List<(int Start, int Length)> Split(string text)
    {
        var words = new List<(int Start, int Length)>();
        if (text.Length == 0)
            return words;

        int[] cps = Codepoints.Decode(text, out int[] charStarts);
        var pieces = new List<(int Start, int Length)> { (0, cps.Length) }; // in code points
        string? collapsed = null;
        string? raw = null;
        int[]? charToCodepoint = null;

        foreach (var rule in Rules)
        {
            var next = new List<(int Start, int Length)>(pieces.Count * 2);
            foreach (var (start, length) in pieces)
            {
                int pos = start;
                if (rule.Collapsed)
                {
                    collapsed ??= Collapse(cps);
                    foreach (var m in rule.Regex.EnumerateMatches(collapsed.AsSpan(start, length)))
                        Take(start + m.Index, start + m.Index + m.Length);
                }
                else
                {
                    raw ??= RawWithVerticalTabs(text, cps, charStarts);
                    charToCodepoint ??= MapCharsToCodepoints(charStarts, text.Length);
                    int charBegin = charStarts[start];
                    foreach (var m in rule.Regex.EnumerateMatches(raw.AsSpan(charBegin, charStarts[start + length] - charBegin)))
                        Take(charToCodepoint[charBegin + m.Index], charToCodepoint[charBegin + m.Index + m.Length]);
                }
                if (pos < start + length)
                    next.Add((pos, start + length - pos));

                void Take(int from, int to)
                {
                    if (to <= from)
                        return; // empty matches split nothing
                    if (from > pos)
                        next.Add((pos, from - pos));
                    next.Add((from, to - from));
                    pos = to;
                }
            }
            pieces = next;
        }

        foreach (var (start, length) in pieces)
            words.Add((charStarts[start], charStarts[start + length] - charStarts[start]));
        return words;
    }

    private static string Collapse(int[] cps) =>
        string.Create(cps.Length, cps, static (chars, cps) =>
        {
            for (int i = 0; i < cps.Length; i++)
            {
                int cp = cps[i];
                chars[i] = cp < 128 ? (char)cp : Codepoints.Classify(cp) switch
                {
                    CodepointClass.Whitespace => '\v',
                    CodepointClass.Letter => PreTokenizerRule.Letter,
                    CodepointClass.Number => PreTokenizerRule.Number,
                    CodepointClass.Punctuation => PreTokenizerRule.Punctuation,
                    CodepointClass.Symbol => PreTokenizerRule.Symbol,
                    CodepointClass.AccentMark => PreTokenizerRule.AccentMark,
                    _ => PreTokenizerRule.Other,
                };
            }
        });

    private static string RawWithVerticalTabs(string text, int[] cps, int[] charStarts)
    {
        var chars = text.ToCharArray();
        for (int i = 0; i < cps.Length; i++)
        {
            if (cps[i] > 0x7F && Codepoints.IsWhitespace(cps[i]))
                chars[charStarts[i]] = '\v'; // all non-ASCII whitespace is in the BMP: one UTF-16 unit
            else if (cps[i] == 0xFFFD && char.IsSurrogate(text[charStarts[i]]))
                chars[charStarts[i]] = '\uFFFD';
        }
        return new string(chars);
    }

    private static int[] MapCharsToCodepoints(int[] charStarts, int textLength)
    {
        var map = new int[textLength + 1];
        int cp = 0;
        for (int c = 0; c <= textLength; c++)
        {
            while (cp + 1 < charStarts.Length && charStarts[cp + 1] <= c)
                cp++;
            map[c] = cp;
        }
        return map;
    }
}
