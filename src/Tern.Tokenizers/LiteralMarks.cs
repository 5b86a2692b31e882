using System.Buffers;
using System.Text;

namespace Tern.Tokenizers;

/// <summary>
/// Keeps the text of control tokens inside untrusted strings (chat message content) from becoming those tokens
/// when the prompt around them is tokenized with special tokens parsed. <see cref="Mark"/> puts <see cref="Char"/>
/// (U+FDD0, a noncharacter reserved for internal use) before every place where a control token's text starts, and
/// doubles the ones already there; <see cref="Strip"/> takes them out again and says where the single ones were;
/// the splitter then refuses a control token whose text covers such a place. So the marked string is tokenized
/// exactly as plain text, and templates that strip, split or search it see the same text with marks in it.
/// </summary>
internal sealed class LiteralMarks
{
    public const char Char = '\uFDD0';

    private readonly SearchValues<string>? _controlTexts;

    public LiteralMarks(Vocabulary vocab)
    {
        var texts = new HashSet<string>(StringComparer.Ordinal);
        for (int id = 0; id < vocab.Count; id++)
        {
            string text = vocab.Texts[id];
            if (vocab.Has(id, TokenAttributes.Control | TokenAttributes.Unknown) && text.Length > 0 && !text.Contains(Char, StringComparison.Ordinal))
                texts.Add(text);
        }
        _controlTexts = texts.Count == 0 ? null : SearchValues.Create(texts.ToArray(), StringComparison.Ordinal);
    }

    public string Mark(string text)
    {
        int next = NextControlText(text, 0);
        if (next < 0 && !text.Contains(Char, StringComparison.Ordinal))
            return text;
        var marked = new StringBuilder(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            if (i == next)
            {
                marked.Append(Char);
                next = NextControlText(text, i + 1);
            }
            if (text[i] == Char)
                marked.Append(Char); // a mark that was there: doubled, so it comes back as itself
            marked.Append(text[i]);
        }
        return marked.ToString();
    }

    /// <summary>
    /// The text without marks, and where (in it) the single marks were: a run of 2k marks stands for k marks of
    /// the original text, a run of 2k + 1 for those and a single mark after them.
    /// </summary>
    public static (string Text, int[] Marks) Strip(string text)
    {
        int first = text.IndexOf(Char, StringComparison.Ordinal);
        if (first < 0)
            return (text, []);
        var plain = new StringBuilder(text.Length);
        var marks = new List<int>();
        plain.Append(text, 0, first);
        for (int i = first; i < text.Length;)
        {
            if (text[i] != Char)
            {
                plain.Append(text[i++]);
                continue;
            }
            int run = 0;
            while (i < text.Length && text[i] == Char)
            {
                run++;
                i++;
            }
            plain.Append(Char, run / 2);
            if (run % 2 == 1)
                marks.Add(plain.Length);
        }
        return (plain.ToString(), marks.ToArray());
    }

    /// <summary>Whether a mark lies in [start, start + length): a control token there came from marked text.</summary>
    public static bool Covers(int[] marks, int start, int length)
    {
        int i = Array.BinarySearch(marks, start);
        if (i >= 0)
            return true;
        i = ~i; // the first mark after start
        return i < marks.Length && marks[i] < start + length;
    }

    private int NextControlText(string text, int from)
    {
        if (_controlTexts is null || from >= text.Length)
            return -1;
        int hit = text.AsSpan(from).IndexOfAny(_controlTexts);
        return hit < 0 ? -1 : from + hit;
    }
}
