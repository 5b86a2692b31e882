using System.Buffers;
using System.Text;

namespace Tern.Tokenizers;

/// <summary>
/// Keeps special-token text inside untrusted strings (chat message content, tool results) from becoming those
/// tokens when the prompt around them is tokenized with special tokens parsed, so that content cannot forge turns
/// or tool results. <see cref="Mark"/> puts <see cref="MarkChar"/> (U+FDD0, a noncharacter reserved for internal
/// use) before every place where a guarded token's text starts, and doubles the ones already there;
/// <see cref="Encode"/> takes them out again and refuses a guarded token over a place that had one. Guarded are the
/// control and unknown tokens (what <see cref="Tokenizer.Encode(string, bool, bool)"/> leaves as text without
/// parseSpecial) and the user-defined tokens given (these are split out of any text otherwise, as llama.cpp does;
/// Qwen3's &lt;tool_response&gt; is one). Templates that strip, split or search a marked string see the same text
/// with marks in it, before the tokens, so their results carry the marks along. Immutable and thread-safe.
/// </summary>
public sealed class LiteralText
{
    public const char MarkChar = '\uFDD0';

    private readonly Tokenizer _tokenizer;
    private readonly bool[] _guarded; // by token id
    private readonly SearchValues<string>? _control; // the texts of control and unknown tokens
    private readonly SearchValues<string>? _all; // those and the guarded user-defined ones

    internal LiteralText(Tokenizer tokenizer, Vocabulary vocab, IEnumerable<int> userDefined)
    {
        _tokenizer = tokenizer;
        _guarded = new bool[vocab.Count];
        var control = new HashSet<string>(StringComparer.Ordinal);
        for (int id = 0; id < vocab.Count; id++)
        {
            if (vocab.Has(id, TokenAttributes.Control | TokenAttributes.Unknown) && Markable(vocab.Texts[id]))
            {
                _guarded[id] = true;
                control.Add(vocab.Texts[id]);
            }
        }
        var all = new HashSet<string>(control, StringComparer.Ordinal);
        foreach (int id in userDefined)
        {
            if ((uint)id >= (uint)vocab.Count || !vocab.Has(id, TokenAttributes.UserDefined))
                throw new ArgumentOutOfRangeException(nameof(userDefined), id, "not a user-defined token");
            if (Markable(vocab.Texts[id]))
            {
                _guarded[id] = true;
                all.Add(vocab.Texts[id]);
            }
        }
        _control = control.Count == 0 ? null : SearchValues.Create(control.ToArray(), StringComparison.Ordinal);
        _all = all.Count == 0 ? null : SearchValues.Create(all.ToArray(), StringComparison.Ordinal);
    }

    /// <summary>
    /// <paramref name="text"/> marked so that <see cref="Encode"/> reads the guarded tokens' text in it as plain
    /// text; the same string when there is nothing to mark. <paramref name="userDefined"/> false marks only control
    /// and unknown tokens (for text whose user-defined tokens are wanted, such as a model's own &lt;think&gt;).
    /// </summary>
    public string Mark(string text, bool userDefined = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var texts = userDefined ? _all : _control;
        int next = Next(texts, text, 0);
        if (next < 0 && !text.Contains(MarkChar, StringComparison.Ordinal))
            return text;
        var marked = new StringBuilder(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            if (i == next)
            {
                marked.Append(MarkChar);
                next = Next(texts, text, i + 1);
            }
            if (text[i] == MarkChar)
                marked.Append(MarkChar); // a mark that was there: doubled, so it comes back as itself
            marked.Append(text[i]);
        }
        return marked.ToString();
    }

    /// <summary>
    /// Tokenizes a prompt with special tokens parsed, except where <see cref="Mark"/> said the text is plain: there
    /// it is tokenized as plain text. The marks are removed. Without marks this is
    /// <c>Encode(prompt, addSpecial, parseSpecial: true)</c>.
    /// </summary>
    public int[] Encode(string prompt, bool addSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var (plain, marks) = Strip(prompt);
        return _tokenizer.Encode(plain, marks, _guarded, addSpecial);
    }

    /// <summary>Whether a mark lies in [start, start + length): a guarded token there came from marked text.</summary>
    internal static bool Covers(int[] marks, int start, int length)
    {
        int i = Array.BinarySearch(marks, start);
        if (i >= 0)
            return true;
        i = ~i; // the first mark after start
        return i < marks.Length && marks[i] < start + length;
    }

    /// <summary>
    /// The text without marks, and where (in it) the single marks were: a run of 2k marks stands for k marks of
    /// the original text, a run of 2k + 1 for those and a single mark after them.
    /// </summary>
    private static (string Text, int[] Marks) Strip(string text)
    {
        int first = text.IndexOf(MarkChar, StringComparison.Ordinal);
        if (first < 0)
            return (text, []);
        var plain = new StringBuilder(text.Length);
        var marks = new List<int>();
        plain.Append(text, 0, first);
        for (int i = first; i < text.Length;)
        {
            if (text[i] != MarkChar)
            {
                plain.Append(text[i++]);
                continue;
            }
            int run = 0;
            while (i < text.Length && text[i] == MarkChar)
            {
                run++;
                i++;
            }
            plain.Append(MarkChar, run / 2);
            if (run % 2 == 1)
                marks.Add(plain.Length);
        }
        return (plain.ToString(), marks.ToArray());
    }

    private static bool Markable(string text) => text.Length > 0 && !text.Contains(MarkChar, StringComparison.Ordinal);

    private static int Next(SearchValues<string>? texts, string text, int from)
    {
        if (texts is null || from >= text.Length)
            return -1;
        int hit = text.AsSpan(from).IndexOfAny(texts);
        return hit < 0 ? -1 : from + hit;
    }
}
