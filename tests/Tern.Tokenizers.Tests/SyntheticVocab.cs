using Tern.Gguf;

namespace Tern.Tokenizers.Tests;

/// <summary>Small in-memory tokenizer metadata for tests that need a vocabulary with particular properties.</summary>
internal static class SyntheticVocab
{
    /// <summary>A SentencePiece vocabulary: &lt;unk&gt; &lt;s&gt; &lt;/s&gt;, 256 byte tokens, then the given pieces.</summary>
    public static Dictionary<string, GgufValue> SentencePiece(params string[] pieces)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { (int)TokenType.Unknown, (int)TokenType.Control, (int)TokenType.Control };
        for (int b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add((int)TokenType.Byte);
        }
        foreach (string p in pieces)
        {
            tokens.Add(p);
            types.Add((int)TokenType.Normal);
        }
        return new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = GgufValue.From("llama"),
            ["tokenizer.ggml.tokens"] = Strings(tokens.ToArray()),
            ["tokenizer.ggml.scores"] = GgufValue.From(new GgufArray(GgufValueType.Float32, tokens.Select((_, i) => -(float)i).ToArray())),
            ["tokenizer.ggml.token_type"] = Ints(types.ToArray()),
        };
    }

    /// <summary>A byte-level BPE vocabulary over the 256 byte characters plus the given merges.</summary>
    public static Dictionary<string, GgufValue> BytePair(params string[] merges)
    {
        var tokens = Enumerable.Range(0, 256).Select(b => ((char)ByteChar(b)).ToString()).ToList();
        foreach (string m in merges)
            tokens.Add(m.Replace(" ", "", StringComparison.Ordinal));
        tokens.Add("<|endoftext|>");
        var types = tokens.Select(t => t == "<|endoftext|>" ? (int)TokenType.Control : (int)TokenType.Normal).ToArray();
        return new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = GgufValue.From("gpt2"),
            ["tokenizer.ggml.pre"] = GgufValue.From("gpt-2"),
            ["tokenizer.ggml.tokens"] = Strings(tokens.ToArray()),
            ["tokenizer.ggml.token_type"] = Ints(types),
            ["tokenizer.ggml.merges"] = Strings(merges),
        };
    }

    public static GgufValue Strings(params string[] values) => GgufValue.From(new GgufArray(GgufValueType.String, values));

    public static GgufValue Ints(params int[] values) => GgufValue.From(new GgufArray(GgufValueType.Int32, values));

    // GPT-2's byte alphabet, written out independently of the library
    private static int ByteChar(int b)
    {
        if (b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF)
            return b;
        int n = 0;
        for (int x = 0; x < b; x++)
        {
            if (!(x is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF))
                n++;
        }
        return 256 + n;
    }
}
