namespace Tern.Tokenizers.Tests;

public sealed class SpecialTokenTests
{
    [Fact]
    public void Control_tokens_are_parsed_only_when_asked()
    {
        var qwen = VocabFixtures.Load("qwen2");
        int imStart = qwen.GetTokenId("<|im_start|>");
        int imEnd = qwen.GetTokenId("<|im_end|>");
        const string chat = "<|im_start|>user\nHello<|im_end|>\n";

        int[] parsed = qwen.Encode(chat, addSpecial: false, parseSpecial: true);
        Assert.Equal(imStart, parsed[0]);
        Assert.Contains(imEnd, parsed);
        Assert.Equal(qwen.Encode("user\nHello", addSpecial: false), parsed[1..^2]);
        Assert.Equal(chat, qwen.Decode(parsed, renderSpecial: true));

        int[] literal = qwen.Encode(chat, addSpecial: false, parseSpecial: false);
        Assert.DoesNotContain(imStart, literal);
        Assert.Equal(chat, qwen.Decode(literal));
    }

    [Fact]
    public void User_defined_tokens_are_split_out_even_without_parsing_special_tokens()
    {
        var qwen = VocabFixtures.Load("qwen2");
        int think = qwen.GetTokenId("<think>");
        Assert.True((qwen.GetTokenAttributes(think) & TokenAttributes.UserDefined) != 0);
        int[] ids = qwen.Encode("a<think>b", addSpecial: false, parseSpecial: false);
        Assert.Equal(3, ids.Length);
        Assert.Equal(think, ids[1]);
    }

    [Fact]
    public void Right_strip_tokens_swallow_the_whitespace_after_them()
    {
        // llama.cpp marks phi-3's special tokens RSTRIP by the model name
        var phi3 = VocabFixtures.Load("phi-3");
        int user = phi3.GetTokenId("<|user|>");
        Assert.True((phi3.GetTokenAttributes(user) & TokenAttributes.RightStrip) != 0);
        int[] spaced = phi3.Encode("<|user|>  \n Hi", addSpecial: false, parseSpecial: true);
        int[] tight = phi3.Encode("<|user|>Hi", addSpecial: false, parseSpecial: true);
        Assert.Equal(tight, spaced);
        Assert.Equal(user, tight[0]);
    }

    [Fact]
    public void Longer_special_tokens_win_over_shorter_ones_they_contain()
    {
        var qwen = VocabFixtures.Load("qwen2");
        int toolCall = qwen.GetTokenId("<tool_call>");
        int toolCallEnd = qwen.GetTokenId("</tool_call>");
        int[] ids = qwen.Encode("<tool_call>x</tool_call>", addSpecial: false);
        Assert.Equal(toolCall, ids[0]);
        Assert.Equal(toolCallEnd, ids[^1]);
    }

    [Fact]
    public void End_of_generation_covers_eos_and_end_of_turn_tokens()
    {
        var qwen = VocabFixtures.Load("qwen2");
        int imEnd = qwen.GetTokenId("<|im_end|>");
        int endOfText = qwen.GetTokenId("<|endoftext|>");
        Assert.Equal(imEnd, qwen.Eos);
        Assert.Equal(imEnd, qwen.Eot);
        Assert.True(qwen.IsEndOfGeneration(imEnd));
        Assert.True(qwen.IsEndOfGeneration(endOfText));
        Assert.False(qwen.IsEndOfGeneration(qwen.GetTokenId("<|im_start|>")));
        Assert.False(qwen.IsEndOfGeneration(qwen.Encode("Hello", addSpecial: false)[0]));

        var spm = VocabFixtures.Load("llama-spm");
        Assert.Equal((1, 2, 0), (spm.Bos, spm.Eos, spm.Unknown));
        Assert.True(spm.IsEndOfGeneration(2));
        Assert.False(spm.IsEndOfGeneration(1));
    }

    [Fact]
    public void Special_ids_and_flags_come_from_metadata_with_llama_cpp_defaults()
    {
        var qwen = VocabFixtures.Load("qwen2");
        Assert.Equal(TokenizerModel.BytePairEncoding, qwen.Model);
        Assert.Equal("qwen2", qwen.PreTokenizerName);
        Assert.Equal(151669, qwen.VocabSize);
        Assert.False(qwen.AddBos); // add_bos_token false in the file
        Assert.False(qwen.CleanSpaces);
        Assert.Equal(qwen.Encode("Hi", addSpecial: false), qwen.Encode("Hi", addSpecial: true));

        var spm = VocabFixtures.Load("llama-spm");
        Assert.True(spm.AddBos && spm.AddSpacePrefix && !spm.AddEos);
        Assert.Equal([1, 15043], spm.Encode("Hello"));

        var bert = VocabFixtures.Load("bert-bge");
        Assert.Equal(TokenizerModel.WordPiece, bert.Model);
        int[] ids = bert.Encode("Hello world");
        Assert.Equal([101, 7592, 2088, 102], ids); // [CLS] hello world [SEP]
    }

    [Fact]
    public void Token_bytes_undo_the_byte_level_alphabet()
    {
        var gpt2 = VocabFixtures.Load("gpt-2");
        int id = gpt2.Encode(" world", addSpecial: false).Single();
        Assert.Equal("Ġworld", gpt2.GetTokenText(id));
        Assert.Equal(" world"u8.ToArray(), gpt2.TokenToBytes(id));
        var spm = VocabFixtures.Load("llama-spm");
        Assert.Equal([0xF0], spm.TokenToBytes(243)); // <0xF0>
        Assert.Equal(" Hello"u8.ToArray(), spm.TokenToBytes(15043));
        Assert.Throws<ArgumentOutOfRangeException>(() => spm.TokenToBytes(spm.VocabSize));
    }
}
