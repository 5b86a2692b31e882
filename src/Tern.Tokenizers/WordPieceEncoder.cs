using System.Text;

namespace Tern.Tokenizers;

/// <summary>
/// llama.cpp's WordPiece tokenizer (<c>llm_tokenizer_wpm</c>, BERT): normalize (lowercase, strip accents),
/// split on whitespace and around punctuation and CJK characters, then take the longest vocabulary match from
/// the left; word-initial pieces carry the '▁' prefix. A word with no full match becomes the unknown token.
/// </summary>
internal sealed class WordPieceEncoder(Vocabulary vocab, int unknownId, bool lowercase, bool stripAccents)
{
    public void Encode(string text, List<int> output)
    {
        foreach (string word in Words(text))
        {
            string marked = "\u2581" + word;
            int firstOfWord = output.Count;
            for (int i = 0; i < marked.Length; i++)
            {
                bool matched = false;
                for (int j = Math.Min(marked.Length, i + vocab.MaxTokenLength + 1); j > i; j--)
                {
                    if (vocab.TryGetId(marked.AsSpan(i, j - i), out int id))
                    {
                        output.Add(id);
                        matched = true;
                        i = j - 1;
                        break;
                    }
                }
                if (!matched)
                {
                    output.RemoveRange(firstOfWord, output.Count - firstOfWord);
                    break;
                }
            }
            if (output.Count == firstOfWord)
                output.Add(unknownId);
        }
    }

    private List<string> Words(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var rune in text.EnumerateRunes())
        {
            int cp = rune.Value;
            if (stripAccents)
                cp = CanonicalDecomposition.FirstCodepoint(cp);
            var cls = Codepoints.Classify(cp);
            if (cls == CodepointClass.Whitespace)
            {
                Finish();
                continue;
            }
            if (cp == 0 || cp == 0xFFFD || Codepoints.IsControl(cp))
                continue;
            if (stripAccents && cls == CodepointClass.AccentMark)
                continue;
            var r = new Rune(cp);
            if (lowercase)
                r = Rune.ToLowerInvariant(r);
            if (cls == CodepointClass.Punctuation || (cp < 0x7F && cls == CodepointClass.Symbol) || IsChinese(cp))
            {
                Finish();
                words.Add(r.ToString());
            }
            else
            {
                current.Append(r.ToString());
            }
        }
        Finish();
        return words;

        void Finish()
        {
            if (current.Length > 0)
                words.Add(current.ToString());
            current.Clear();
        }
    }

    private static bool IsChinese(int cp) =>
        cp is (>= 0x04E00 and <= 0x09FFF) or (>= 0x03400 and <= 0x04DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F)
            or (>= 0x2B920 and <= 0x2CEAF) // sic: 0x2B820 in Unicode, 0x2B920 in HF's code and llama.cpp
            or (>= 0x0F900 and <= 0x0FAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
