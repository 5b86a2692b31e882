using Tern.Gguf;

namespace Tern.Tokenizers.Tests;

public sealed class MetadataErrorTests
{
    [Fact]
    public void Missing_model_key_is_named()
    {
        var meta = SyntheticVocab.SentencePiece("▁a");
        meta.Remove("tokenizer.ggml.model");
        AssertFailsOn("tokenizer.ggml.model", meta);
    }

    [Fact]
    public void Unknown_model_is_named()
    {
        var meta = SyntheticVocab.SentencePiece("▁a");
        meta["tokenizer.ggml.model"] = GgufValue.From("unigram-of-the-future");
        var e = AssertFailsOn("tokenizer.ggml.model", meta);
        Assert.Contains("unigram-of-the-future", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_token_list_is_named()
    {
        var meta = SyntheticVocab.SentencePiece("▁a");
        meta.Remove("tokenizer.ggml.tokens");
        AssertFailsOn("tokenizer.ggml.tokens", meta);
    }

    [Fact]
    public void Token_list_of_the_wrong_type_is_named()
    {
        var meta = SyntheticVocab.SentencePiece("▁a");
        meta["tokenizer.ggml.tokens"] = SyntheticVocab.Ints(1, 2, 3);
        AssertFailsOn("tokenizer.ggml.tokens", meta);
    }

    [Fact]
    public void Scores_shorter_than_tokens_are_named_with_both_lengths()
    {
        var meta = SyntheticVocab.SentencePiece("▁a", "▁b");
        meta["tokenizer.ggml.scores"] = GgufValue.From(new GgufArray(GgufValueType.Float32, new float[10]));
        var e = AssertFailsOn("tokenizer.ggml.scores", meta);
        Assert.Contains("10", e.Message, StringComparison.Ordinal);
        Assert.Contains("261", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Token_types_of_the_wrong_length_are_named()
    {
        var meta = SyntheticVocab.SentencePiece("▁a");
        meta["tokenizer.ggml.token_type"] = SyntheticVocab.Ints(1, 1, 1);
        AssertFailsOn("tokenizer.ggml.token_type", meta);
    }

    [Fact]
    public void Duplicate_token_is_named_with_both_ids()
    {
        var meta = SyntheticVocab.SentencePiece("▁a", "▁a");
        var e = AssertFailsOn("tokenizer.ggml.tokens", meta);
        Assert.Contains("259", e.Message, StringComparison.Ordinal);
        Assert.Contains("260", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bpe_without_merges_is_named()
    {
        var meta = SyntheticVocab.BytePair("Ġ t");
        meta.Remove("tokenizer.ggml.merges");
        AssertFailsOn("tokenizer.ggml.merges", meta);
    }

    [Fact]
    public void Unknown_pre_tokenizer_is_named()
    {
        var meta = SyntheticVocab.BytePair("Ġ t");
        meta["tokenizer.ggml.pre"] = GgufValue.From("my-own-regex");
        var e = AssertFailsOn("tokenizer.ggml.pre", meta);
        Assert.Contains("my-own-regex", e.Message, StringComparison.Ordinal);
        Assert.Contains("qwen2", e.Message, StringComparison.Ordinal); // lists what is supported
    }

    [Fact]
    public void Add_bos_without_a_bos_token_is_named()
    {
        // three tokens: gpt2's default BOS id (11) is outside the vocabulary, and no bos_token_id is given
        var meta = new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = GgufValue.From("gpt2"),
            ["tokenizer.ggml.pre"] = GgufValue.From("gpt-2"),
            ["tokenizer.ggml.tokens"] = SyntheticVocab.Strings("a", "b", "c"),
            ["tokenizer.ggml.merges"] = SyntheticVocab.Strings("a b"),
            ["tokenizer.ggml.add_bos_token"] = GgufValue.From(true),
        };
        var e = AssertFailsOn("tokenizer.ggml.add_bos_token", meta);
        Assert.Contains("tokenizer.ggml.bos_token_id", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Flag_of_the_wrong_type_is_named()
    {
        var meta = SyntheticVocab.SentencePiece("▁a");
        meta["tokenizer.ggml.add_bos_token"] = GgufValue.From("yes");
        AssertFailsOn("tokenizer.ggml.add_bos_token", meta);
    }

    [Fact]
    public void Out_of_range_special_id_keeps_the_default_as_llama_cpp_does()
    {
        // stories260K stores seperator/padding ids of 4294967295
        var meta = SyntheticVocab.SentencePiece("▁a");
        meta["tokenizer.ggml.padding_token_id"] = GgufValue.From(uint.MaxValue);
        meta["tokenizer.ggml.eos_token_id"] = GgufValue.From(100_000u);
        var tokenizer = Tokenizer.FromMetadata(meta);
        Assert.Equal(-1, tokenizer.Padding);
        Assert.Equal(2, tokenizer.Eos);
    }

    private static TokenizerException AssertFailsOn(string key, Dictionary<string, GgufValue> meta)
    {
        var e = Assert.Throws<TokenizerException>(() => Tokenizer.FromMetadata(meta));
        Assert.Equal(key, e.MetadataKey);
        Assert.StartsWith(key, e.Message, StringComparison.Ordinal);
        return e;
    }
}
