using Tern.Gguf;

namespace Tern.Tokenizers.Tests;

public sealed class IncrementalDetokenizerTests
{
    [Fact]
    public void Byte_fallback_tokens_are_held_until_the_character_is_complete()
    {
        var spm = VocabFixtures.Load("llama-spm");
        int[] ids = spm.Encode("🦙", addSpecial: false); // ▁ then the four <0xNN> bytes of U+1F999
        Assert.Equal([29871, 243, 162, 169, 156], ids);
        var detokenizer = spm.CreateDetokenizer();
        Assert.Equal(["", "", "", "", "🦙"], ids.Select(detokenizer.Append).ToArray());
        Assert.Equal("", detokenizer.Flush());
    }

    [Fact]
    public void Byte_level_pieces_of_one_character_are_joined()
    {
        var gpt2 = VocabFixtures.Load("gpt-2");
        int[] ids = gpt2.Encode("😁", addSpecial: false);
        Assert.True(ids.Length > 1, "the emoji should span several tokens in GPT-2's vocabulary");
        var detokenizer = gpt2.CreateDetokenizer();
        string[] chunks = ids.Select(detokenizer.Append).ToArray();
        Assert.All(chunks[..^1], c => Assert.Equal("", c));
        Assert.Equal("😁", chunks[^1]);
    }

    [Fact]
    public void A_character_cut_short_at_the_end_is_flushed_as_a_replacement_character()
    {
        var spm = VocabFixtures.Load("llama-spm");
        var detokenizer = spm.CreateDetokenizer(atSequenceStart: false);
        Assert.Equal("", detokenizer.Append(243)); // <0xF0>: the first of four bytes
        Assert.Equal("", detokenizer.Append(162));
        Assert.Equal("\uFFFD", detokenizer.Flush());
        Assert.Equal("\uFFFD", spm.Decode([243, 162]));
    }

    [Fact]
    public void Space_prefix_is_removed_from_the_first_token_of_a_sequence_only()
    {
        var spm = VocabFixtures.Load("llama-spm");
        int[] hello = spm.Encode("Hello world", addSpecial: false); // ▁Hello ▁world
        Assert.Equal("Hello world", spm.Decode(hello));
        Assert.Equal("Hello world", Stream(spm.CreateDetokenizer(), hello));
        // continuing after a prompt: the space is part of the text
        Assert.Equal(" Hello world", Stream(spm.CreateDetokenizer(atSequenceStart: false), hello));
    }

    [Fact]
    public void After_BOS_the_space_prefix_stays_as_in_llama_detokenize()
    {
        var spm = VocabFixtures.Load("llama-spm");
        int[] ids = spm.Encode("Hello", addSpecial: true);
        Assert.Equal([1, 15043], ids);
        // llama.cpp spends the space removal on the first token even when it is BOS, so the space stays
        Assert.Equal(" Hello", spm.Decode(ids));
        Assert.Equal(" Hello", spm.Decode(ids, removeSpecial: true));
        Assert.Equal("<s> Hello", spm.Decode(ids, renderSpecial: true));
        foreach (var (remove, render) in ((bool, bool)[])[(false, false), (true, false), (false, true)])
            Assert.Equal(spm.Decode(ids, remove, render), Stream(spm.CreateDetokenizer(remove, render), ids));
    }

    [Fact]
    public void Space_before_punctuation_is_held_until_the_next_token_decides_it()
    {
        var gpt2 = VocabFixtures.Load("gpt-2");
        Assert.True(gpt2.CleanSpaces);
        int[] ids = gpt2.Encode("Hello ! It 's me ", addSpecial: false);
        string decoded = gpt2.Decode(ids);
        Assert.Equal("Hello! It's me ", decoded);
        var detokenizer = gpt2.CreateDetokenizer();
        var chunks = ids.Select(detokenizer.Append).ToList();
        chunks.Add(detokenizer.Flush());
        Assert.Equal(decoded, string.Concat(chunks));
        Assert.Equal("Hello", chunks[0]);
        Assert.Equal(" ", chunks[^1]); // the trailing space only comes out at the end
    }

    [Fact]
    public void Trailing_EOS_is_dropped_only_at_the_end_when_removing_special_tokens()
    {
        var meta = SyntheticVocab.SentencePiece("▁a", "▁b");
        meta["tokenizer.ggml.add_eos_token"] = GgufValue.From(true);
        var tokenizer = Tokenizer.FromMetadata(meta);
        int[] ids = tokenizer.Encode("a b");
        Assert.Equal([1, 259, 260, 2], ids);
        Assert.Equal(" a b", tokenizer.Decode(ids, removeSpecial: true, renderSpecial: true));
        Assert.Equal("<s> a b</s>", tokenizer.Decode(ids, removeSpecial: false, renderSpecial: true));
        int[] eosInside = [259, 2, 260, 2];
        Assert.Equal("a</s> b", tokenizer.Decode(eosInside, removeSpecial: true, renderSpecial: true));
        foreach (int[] sequence in (int[][])[ids, eosInside])
        {
            var detokenizer = tokenizer.CreateDetokenizer(removeSpecial: true, renderSpecial: true);
            Assert.Equal(tokenizer.Decode(sequence, removeSpecial: true, renderSpecial: true), Stream(detokenizer, sequence));
        }
    }

    [Fact]
    public void Control_tokens_are_silent_unless_rendered_and_user_defined_tokens_always_show()
    {
        var qwen = VocabFixtures.Load("qwen2");
        int imEnd = qwen.GetTokenId("<|im_end|>");
        int think = qwen.GetTokenId("<think>");
        Assert.True(imEnd >= 0 && think >= 0);
        Assert.Equal("<think>", qwen.Decode([think]));
        Assert.Equal("", qwen.Decode([imEnd]));
        Assert.Equal("<|im_end|>", qwen.Decode([imEnd], renderSpecial: true));
        Assert.Empty(qwen.TokenToBytes(imEnd, renderSpecial: false));
    }

    [Fact]
    public void Reset_starts_a_new_sequence()
    {
        var spm = VocabFixtures.Load("llama-spm");
        var detokenizer = spm.CreateDetokenizer();
        detokenizer.Append(243); // an unfinished character
        detokenizer.Reset();
        Assert.Equal("Hello", detokenizer.Append(15043));
    }

    private static string Stream(IncrementalDetokenizer detokenizer, int[] ids)
    {
        var chunks = ids.Select(detokenizer.Append).ToList();
        chunks.Add(detokenizer.Flush());
        return string.Concat(chunks);
    }
}
