using System.Text.RegularExpressions;

namespace Tern.Tokenizers.Tests;

public sealed class PreTokenizerTests
{
    [Fact]
    public void Astral_letters_count_as_letters_in_category_patterns()
    {
        // .NET sees 𝒜 (U+1D49C, a letter) as two surrogates; the collapsed text sees one letter, as llama.cpp does
        var qwen = PreTokenizerCatalog.Find("qwen2")!.PreTokenizer;
        Assert.Equal(["x𝒜𝒷", " y"], Words(qwen, "x𝒜𝒷 y"));
        Assert.Equal(["1", "2", "3"], Words(qwen, "123"));
    }

    [Fact]
    public void Pre_tokenizers_are_sequences_whose_later_regexes_only_see_earlier_pieces()
    {
        // starcoder: every digit on its own first, then the GPT-2 regex inside each piece
        var starcoder = PreTokenizerCatalog.Find("starcoder")!.PreTokenizer;
        Assert.Equal(["a", "1", "2", "b", " c"], Words(starcoder, "a12b c"));
        // falcon: punctuation runs first, then GPT-2 (" 1234"), then groups of three ASCII digits inside that
        var falcon = PreTokenizerCatalog.Find("falcon")!.PreTokenizer;
        Assert.Equal(["Hi", "!!", " ", "123", "4"], Words(falcon, "Hi!! 1234"));
    }

    [Fact]
    public void Whitespace_run_before_a_word_leaves_its_last_space_to_the_word()
    {
        var gpt2 = PreTokenizerCatalog.Find("gpt-2")!.PreTokenizer;
        Assert.Equal(["  ", " Hello", "   "], Words(gpt2, "   Hello   "));
        var llama3 = PreTokenizerCatalog.Find("llama-bpe")!.PreTokenizer;
        Assert.Equal(["  ", " Hello", "\n\n", "  ", " x"], Words(llama3, "   Hello\n\n   x"));
    }

    [Fact]
    public void Raw_patterns_see_non_ascii_whitespace_as_a_vertical_tab()
    {
        // deepseek-llm's punctuation class includes U+3000..U+3002, but U+3000 in the text has become \v by the
        // time the pattern runs, so it does not join the run of fullwidth punctuation before it
        var deepseek = PreTokenizerCatalog.Find("deepseek-llm")!.PreTokenizer;
        Assert.Equal(["a", "！", "\u3000"], Words(deepseek, "a！\u3000"));
    }

    [Fact]
    public void Codepoint_sets_match_astral_ranges_through_surrogate_pairs()
    {
        var set = new Regex("^" + PreTokenizerCatalog.CodepointSet("a-c𐐀-𐑏") + "+$");
        Assert.Matches(set, "abc");
        Assert.Matches(set, "𐐀𐑏b");
        Assert.DoesNotMatch(set, "d");
        Assert.DoesNotMatch(set, "𐒀");
    }

    [Fact]
    public void DeepSeek_letter_class_reaches_fullwidth_and_astral_letters()
    {
        var deepseek = PreTokenizerCatalog.Find("deepseek-llm")!.PreTokenizer;
        Assert.Equal(["x", " Ａｂ", " 𐐀𐐁"], Words(deepseek, "x Ａｂ 𐐀𐐁"));
    }

    [Fact]
    public void Every_listed_pre_tokenizer_compiles()
    {
        foreach (string name in PreTokenizerCatalog.Names)
            Assert.NotNull(PreTokenizerCatalog.Find(name)!.PreTokenizer.Split("Hello, world! 123 😀 你好\n"));
    }

    private static string[] Words(PreTokenizer pre, string text) =>
        pre.Split(text).Select(w => text.Substring(w.Start, w.Length)).ToArray();
}
