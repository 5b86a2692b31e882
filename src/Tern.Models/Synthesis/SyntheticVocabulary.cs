using Tern.Gguf;

namespace Tern.Models.Synthesis;

/// <summary>
/// A made-up vocabulary of exactly the model's size, in the GGUF form llama.cpp loads: SentencePiece ("llama":
/// &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte tokens, then pieces) or byte-level BPE ("gpt2" with the qwen2
/// pre-tokenizer: the 256-character byte alphabet, merged pieces with one merge each, then the special tokens).
/// Pieces are a word start or a letter followed by lowercase letters, shortest first, so text tokenizes into
/// short realistic pieces.
/// </summary>
public static class SyntheticVocabulary
{
    // llama_token_type (llama.cpp's vocab attributes as stored in GGUF)
    private const int Normal = 1, Unknown = 2, Control = 3, Byte = 6;

    /// <summary>The tokenizer.ggml.* keys for a vocabulary of <see cref="ModelShape.VocabSize"/> tokens.</summary>
    public static List<KeyValuePair<string, GgufValue>> Metadata(ModelShape shape)
    {
        var metadata = new List<KeyValuePair<string, GgufValue>>();
        switch (shape.Vocabulary)
        {
            case SyntheticVocabularyKind.SentencePiece:
                AddSentencePiece(metadata, shape.VocabSize);
                break;
            case SyntheticVocabularyKind.ByteLevelBpe:
                AddByteLevelBpe(metadata, shape.VocabSize);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(shape), shape.Vocabulary, "unknown vocabulary kind");
        }
        return metadata;
    }

    private static void AddSentencePiece(List<KeyValuePair<string, GgufValue>> metadata, int size)
    {
        const string space = "\u2581"; // ▁
        var tokens = new List<string>(size) { "<unk>", "<s>", "</s>" };
        var types = new List<int>(size) { Unknown, Control, Control };
        for (int b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add(Byte);
        }
        foreach (var (piece, _, _) in Pieces(space, size - tokens.Count))
        {
            tokens.Add(piece);
            types.Add(Normal);
        }
        if (tokens.Count != size)
            throw new SynthesisException($"a SentencePiece vocabulary needs at least {tokens.Count} tokens, not {size}");

        // Scores rank the pieces for SentencePiece's merging: earlier (shorter) pieces first.
        var scores = new float[size];
        for (int i = 259; i < size; i++)
            scores[i] = -(i - 259);

        metadata.Add(new("tokenizer.ggml.model", GgufValue.From("llama")));
        metadata.Add(new("tokenizer.ggml.pre", GgufValue.From("default")));
        metadata.Add(new("tokenizer.ggml.tokens", GgufValue.From(new GgufArray(GgufValueType.String, tokens.ToArray()))));
        metadata.Add(new("tokenizer.ggml.scores", GgufValue.From(new GgufArray(GgufValueType.Float32, scores))));
        metadata.Add(new("tokenizer.ggml.token_type", GgufValue.From(new GgufArray(GgufValueType.Int32, types.ToArray()))));
        metadata.Add(new("tokenizer.ggml.bos_token_id", GgufValue.From(1u)));
        metadata.Add(new("tokenizer.ggml.eos_token_id", GgufValue.From(2u)));
        metadata.Add(new("tokenizer.ggml.unknown_token_id", GgufValue.From(0u)));
        metadata.Add(new("tokenizer.ggml.add_bos_token", GgufValue.From(true)));
        metadata.Add(new("tokenizer.ggml.add_eos_token", GgufValue.From(false)));
    }

    private static void AddByteLevelBpe(List<KeyValuePair<string, GgufValue>> metadata, int size)
    {
        string[] specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
        var tokens = new List<string>(size);
        var types = new List<int>(size);
        tokens.AddRange(ByteAlphabet());
        types.AddRange(Enumerable.Repeat(Normal, 256));
        var merges = new List<string>(size);
        foreach (var (piece, left, right) in Pieces("\u0120", size - tokens.Count - specials.Length)) // Ġ: the byte-level space
        {
            tokens.Add(piece);
            types.Add(Normal);
            if (left is not null)
                merges.Add($"{left} {right}");
        }
        int endOfText = tokens.Count;
        tokens.AddRange(specials);
        types.AddRange(Enumerable.Repeat(Control, specials.Length));
        if (tokens.Count != size)
            throw new SynthesisException($"a byte-level BPE vocabulary needs at least {256 + specials.Length} tokens, not {size}");

        metadata.Add(new("tokenizer.ggml.model", GgufValue.From("gpt2")));
        metadata.Add(new("tokenizer.ggml.pre", GgufValue.From("qwen2")));
        metadata.Add(new("tokenizer.ggml.tokens", GgufValue.From(new GgufArray(GgufValueType.String, tokens.ToArray()))));
        metadata.Add(new("tokenizer.ggml.token_type", GgufValue.From(new GgufArray(GgufValueType.Int32, types.ToArray()))));
        metadata.Add(new("tokenizer.ggml.merges", GgufValue.From(new GgufArray(GgufValueType.String, merges.ToArray()))));
        metadata.Add(new("tokenizer.ggml.eos_token_id", GgufValue.From((uint)endOfText)));
        metadata.Add(new("tokenizer.ggml.padding_token_id", GgufValue.From((uint)endOfText)));
        metadata.Add(new("tokenizer.ggml.bos_token_id", GgufValue.From((uint)endOfText)));
        metadata.Add(new("tokenizer.ggml.add_bos_token", GgufValue.From(false)));
    }

    /// <summary>
    /// Up to <paramref name="count"/> distinct pieces, each with the two tokens it merges from (null for the
    /// single characters): first single characters (letters, digits, punctuation) and the space followed by a
    /// letter, then, breadth first, every stem followed by a lowercase letter. Every stem was yielded earlier.
    /// </summary>
    internal static IEnumerable<(string Piece, string? Left, string? Right)> Pieces(string space, int count)
    {
        const string lower = "abcdefghijklmnopqrstuvwxyz", upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        if (count <= 0)
            yield break;
        var stems = new Queue<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int yielded = 0;

        // SentencePiece needs the single characters as pieces; for byte-level BPE they are already in the alphabet.
        bool singlesAreTokens = space == "\u2581";
        foreach (char c in space + lower + upper + "0123456789.,!?'\"-:;()")
        {
            string s = c.ToString();
            if (char.IsLetter(c) || s == space)
                stems.Enqueue(s);
            if (singlesAreTokens && seen.Add(s))
            {
                if (yielded++ == count) yield break;
                yield return (s, null, null);
            }
            else
            {
                seen.Add(s);
            }
        }
        foreach (char c in upper)
        {
            string s = space + c;
            if (yielded++ == count) yield break;
            seen.Add(s);
            stems.Enqueue(s);
            yield return (s, space, c.ToString());
        }
        while (stems.Count > 0)
        {
            string stem = stems.Dequeue();
            foreach (char c in lower)
            {
                string s = stem + c;
                if (!seen.Add(s))
                    continue;
                if (yielded++ == count) yield break;
                stems.Enqueue(s);
                yield return (s, stem, c.ToString());
            }
        }
    }

    /// <summary>GPT-2's bytes_to_unicode characters in its order: the printable bytes, then the others from U+0100.</summary>
    internal static IEnumerable<string> ByteAlphabet()
    {
        var printable = Enumerable.Range(0x21, 0x7E - 0x21 + 1).Concat(Enumerable.Range(0xA1, 0xAC - 0xA1 + 1))
            .Concat(Enumerable.Range(0xAE, 0xFF - 0xAE + 1)).ToArray();
        foreach (int b in printable)
            yield return ((char)b).ToString();
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            if (Array.IndexOf(printable, b) < 0)
                yield return ((char)(256 + next++)).ToString();
        }
    }
}
