using Tern.Gguf;
using Tern.Models.Synthesis;
using Tern.Tokenizers;

namespace Tern.Models.Tests;

public sealed class SynthesisVocabularyTests : IDisposable
{
    private const string Text = "Hello world, this is a synthetic model.\nIt has 2 lines; ünïcode too!";

    private readonly SynthesisTempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("llama-1b")]
    [InlineData("llama-8b")]
    [InlineData("bitnet-2b")]
    public void SentencePiece_vocabulary_has_the_model_size_unique_tokens_and_round_trips_text(string shapeName)
    {
        var shape = ModelShapes.Get(shapeName);
        using var gguf = VocabularyFile(shape);
        string[] tokens = gguf.GetStringArray("tokenizer.ggml.tokens")!;
        int[] types = gguf.GetInt32Array("tokenizer.ggml.token_type")!;

        Assert.Equal(shape.VocabSize, tokens.Length);
        Assert.Equal(shape.VocabSize, types.Length);
        Assert.Equal(shape.VocabSize, gguf.GetFloatArray("tokenizer.ggml.scores")!.Length);
        Assert.Equal(tokens.Length, tokens.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], tokens[..4]);
        Assert.Equal("<0xFF>", tokens[258]);
        Assert.Equal([2, 3, 3, 6], types[..4]);
        Assert.All(types[3..259], t => Assert.Equal(6, t));
        Assert.All(types[259..], t => Assert.Equal(1, t));
        Assert.Equal(1, gguf.GetInteger("tokenizer.ggml.bos_token_id"));
        Assert.Equal(2, gguf.GetInteger("tokenizer.ggml.eos_token_id"));
        Assert.Equal(0, gguf.GetInteger("tokenizer.ggml.unknown_token_id"));
        Assert.True(gguf.GetBool("tokenizer.ggml.add_bos_token"));

        var tokenizer = Tokenizer.FromGguf(gguf);
        int[] ids = tokenizer.Encode(Text);
        Assert.Equal(1, ids[0]);
        Assert.Equal(Text, tokenizer.Decode(ids.AsSpan(1)));
        Assert.True(ids.Length < Text.Length * 2 / 3, $"{ids.Length} tokens: the pieces should cover parts of words");
    }

    [Fact]
    public void Byte_level_vocabulary_has_consistent_merges_and_round_trips_text()
    {
        var shape = ModelShapes.Get("qwen2.5-0.5b");
        using var gguf = VocabularyFile(shape);
        string[] tokens = gguf.GetStringArray("tokenizer.ggml.tokens")!;
        int[] types = gguf.GetInt32Array("tokenizer.ggml.token_type")!;
        string[] merges = gguf.GetStringArray("tokenizer.ggml.merges")!;

        Assert.Equal(151936, tokens.Length);
        Assert.Equal(tokens.Length, tokens.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal("gpt2", gguf.GetString("tokenizer.ggml.model"));
        Assert.Equal("qwen2", gguf.GetString("tokenizer.ggml.pre"));
        Assert.Equal(["!", "\"", "#"], tokens[..3]);
        Assert.Contains("\u0120", tokens[..256]); // Ġ, the byte-level space, is in the alphabet

        long eos = gguf.GetInteger("tokenizer.ggml.eos_token_id")!.Value;
        Assert.Equal("<|endoftext|>", tokens[eos]);
        Assert.Equal(3, types[eos]);
        Assert.Equal(["<|im_start|>", "<|im_end|>"], tokens[^2..]);
        Assert.False(gguf.GetBool("tokenizer.ggml.add_bos_token"));

        // each merge joins two tokens into a token, and every token past the alphabet has exactly one merge
        var ids = tokens.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i, StringComparer.Ordinal);
        Assert.Equal(tokens.Length - 256 - 3, merges.Length);
        for (int rank = 0; rank < merges.Length; rank++)
        {
            string[] parts = merges[rank].Split(' ');
            Assert.Equal(2, parts.Length);
            Assert.True(ids[parts[0]] < ids[parts[0] + parts[1]] && ids[parts[1]] < ids[parts[0] + parts[1]], merges[rank]);
            Assert.Equal(256 + rank, ids[parts[0] + parts[1]]);
        }

        var tokenizer = Tokenizer.FromGguf(gguf);
        int[] encoded = tokenizer.Encode(Text);
        Assert.Equal(Text, tokenizer.Decode(encoded));
        Assert.True(encoded.Length < Text.Length * 2 / 3, $"{encoded.Length} tokens: the merges should cover parts of words");
        Assert.Equal([(int)eos], tokenizer.Encode("<|endoftext|>", parseSpecial: true));
    }

    [Fact]
    public void A_vocabulary_too_small_for_its_fixed_tokens_is_refused()
    {
        var shape = ModelShapes.Get("tiny") with { VocabSize = 100 };
        Assert.Throws<SynthesisException>(() => SyntheticVocabulary.Metadata(shape));
    }

    private GgufFile VocabularyFile(ModelShape shape)
    {
        var writer = new GgufWriter();
        writer.Add("general.architecture", GgufValue.From(shape.Architecture));
        foreach (var (key, value) in SyntheticVocabulary.Metadata(shape))
            writer.Add(key, value);
        string path = _temp.File(shape.Name + "-vocab.gguf");
        writer.WriteFile(path);
        return GgufFile.Open(path);
    }
}
