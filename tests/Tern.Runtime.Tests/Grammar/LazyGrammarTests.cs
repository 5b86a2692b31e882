using Tern.Gguf;
using Tern.Runtime.Grammar;
using Tern.Tokenizers;
using GrammarRules = Tern.Runtime.Grammar.Grammar;

namespace Tern.Runtime.Tests.Grammar;

/// <summary>
/// A lazy grammar on the real Qwen vocabulary: free text until the trigger, the grammar from the trigger to the call's
/// close, free again after; a token that would complete the trigger with bytes the grammar refuses is refused.
/// </summary>
public sealed class LazyGrammarTests
{
    private static readonly Lazy<(Tokenizer Tokenizer, GrammarVocabulary Vocabulary)> Qwen = new(() =>
    {
        using var file = GgufFile.Open(SharedData.Path("tokenizer/ggml-vocab-qwen2.gguf"));
        var tokenizer = Tokenizer.FromGguf(file);
        return (tokenizer, GrammarVocabulary.For(tokenizer));
    });

    private static readonly GrammarRules Call = GrammarRules.Parse("""root ::= "<tool_call>\n{\"n\": " [0-9] "}\n</tool_call>" """);

    private static LazyGrammarConstraint New() => new(Call, Qwen.Value.Vocabulary, "<tool_call>");

    private static int[] Tokens(string text) => Qwen.Value.Tokenizer.Encode(text, addSpecial: false, parseSpecial: false);

    [Fact]
    public void Free_text_then_the_call_under_the_grammar_then_free_text_again()
    {
        var lazy = New();
        foreach (int t in Tokens("Let me check. "))
        {
            Assert.True(lazy.Allows(t));
            lazy.Accept(t);
        }

        Assert.False(lazy.InCall);
        foreach (int t in Tokens("<tool_call>\n{\"n\": "))
            lazy.Accept(t);
        Assert.True(lazy.InCall);
        Assert.False(lazy.Allows(Tokens("x")[0])); // only a digit may come
        Assert.True(lazy.Allows(Tokens("7")[0]));
        var logits = new float[Qwen.Value.Vocabulary.Count];
        lazy.Restrict(logits);
        Assert.Equal(10, logits.Count(float.IsFinite)); // the ten digits
        Assert.False(lazy.Allows(Qwen.Value.Tokenizer.Eos)); // the call must close before the text may end

        foreach (int t in Tokens("7}\n</tool_call>"))
            lazy.Accept(t);
        Assert.False(lazy.InCall);
        Assert.True(lazy.Allows(Tokens("Done")[0]));
        Assert.True(lazy.Allows(Qwen.Value.Tokenizer.Eos));
        Assert.False(lazy.MustEnd);
    }

    [Fact]
    public void A_trigger_split_across_tokens_starts_the_call()
    {
        var lazy = New();
        foreach (string piece in new[] { "ok <tool", "_ca", "ll>" })
        {
            foreach (int t in Tokens(piece))
                lazy.Accept(t);
        }

        Assert.True(lazy.InCall);
        Assert.False(lazy.Allows(Tokens("hello")[0]));
    }

    [Fact]
    public void A_token_completing_the_trigger_with_bytes_the_grammar_refuses_is_refused()
    {
        var lazy = New();
        foreach (int t in Tokens("<tool_call"))
            lazy.Accept(t);
        var vocabulary = Qwen.Value.Vocabulary;
        int good = Enumerable.Range(0, vocabulary.Count).First(t => vocabulary.Pieces[t].SequenceEqual(">\n"u8.ToArray()));
        int bad = Enumerable.Range(0, vocabulary.Count).First(t => vocabulary.Pieces[t] is [(byte)'>', not (byte)'\n', ..]);

        Assert.True(lazy.Allows(good));
        Assert.False(lazy.Allows(bad));
        var logits = new float[vocabulary.Count];
        lazy.Restrict(logits);
        Assert.True(float.IsFinite(logits[good]));
        Assert.True(float.IsNegativeInfinity(logits[bad]));
    }

    [Fact]
    public void A_grammar_that_does_not_start_with_its_trigger_is_refused() =>
        Assert.Throws<GrammarException>(() => new LazyGrammarConstraint(GrammarRules.Parse("root ::= \"{\" [0-9] \"}\""), Qwen.Value.Vocabulary, "<tool_call>"));
}
