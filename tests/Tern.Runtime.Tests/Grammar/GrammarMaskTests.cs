using System.Diagnostics;
using System.Text.Json;
using Tern.Gguf;
using Tern.Runtime.Grammar;
using Tern.Tokenizers;
using GrammarRules = Tern.Runtime.Grammar.Grammar;

namespace Tern.Runtime.Tests.Grammar;

/// <summary>The trie-walked token mask equals a token-by-token check of the whole vocabulary, on real vocabularies.</summary>
public sealed class GrammarMaskTests(ITestOutputHelper output)
{
    private static readonly Lazy<Tokenizer> Qwen = new(() => Load("tokenizer/ggml-vocab-qwen2.gguf"));
    private static readonly Lazy<Tokenizer> Spm = new(() => Load("tokenizer/ggml-vocab-llama-spm.gguf"));

    private static Tokenizer Load(string path)
    {
        using var file = GgufFile.Open(SharedData.Path(path));
        return Tokenizer.FromGguf(file);
    }

    public static TheoryData<string, string> Cases() => new()
    {
        { "qwen", "json_object" },
        { "qwen", "schema" },
        { "qwen", "multibyte" },
        { "spm", "json_object" },
        { "spm", "schema" },
        { "spm", "multibyte" },
    };

    private static GrammarRules Grammar(string name)
    {
        switch (name)
        {
            case "json_object":
                return JsonSchemaGrammar.JsonObject();
            case "schema":
                using (var doc = JsonDocument.Parse("""{"type":"object","properties":{"id":{"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"},"n":{"type":"integer","minimum":-20,"maximum":300},"tags":{"type":"array","items":{"enum":["a","bb","ccc"]},"maxItems":4},"note":{"type":"string","maxLength":30}},"required":["id","n","tags","note"]}"""))
                    return JsonSchemaGrammar.FromSchema(doc.RootElement);
            default:
                // characters of 2, 3 and 4 UTF-8 bytes, so tokens end inside characters
                return GrammarRules.Parse("root ::= ( [à-ÿ] | [€-₿] | [😀-🙏] | \" \" )+ \".\"");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Mask_equals_brute_force_on_random_states(string vocabulary, string grammar)
    {
        var tokenizer = vocabulary == "qwen" ? Qwen.Value : Spm.Value;
        var vocab = GrammarVocabulary.For(tokenizer);
        var g = Grammar(grammar);
        var constraint = new GrammarConstraint(g, vocab);
        var stepper = new GrammarStepper(g);
        var random = new Random(vocabulary.Length * 31 + grammar.Length);
        var clock = new Stopwatch();
        int masks = 0, partialStates = 0;
        var history = new List<int>();
        for (int step = 0; step < 12; step++)
        {
            var state = constraint.State;
            var brute = new bool[vocab.Count];
            for (int t = 0; t < vocab.Count; t++)
                brute[t] = vocab.IsEndOfGeneration[t] ? state.IsComplete : vocab.Pieces[t].Length > 0 && stepper.Step(state, vocab.Pieces[t]) is not null;

            // the cheap check of single tokens, before any mask exists for this state
            for (int i = 0; i < 300; i++)
            {
                int t = random.Next(vocab.Count);
                Assert.Equal(brute[t], constraint.Allows(t));
            }

            clock.Start();
            var mask = constraint.Mask();
            clock.Stop();
            masks++;
            var allowed = new List<int>();
            for (int t = 0; t < vocab.Count; t++)
            {
                bool bit = (mask[t >> 6] & (1UL << t)) != 0;
                Assert.True(brute[t] == bit, $"token {t} ({tokenizer.GetTokenText(t)}): brute force {brute[t]}, mask {bit}, step {step}");
                if (bit && !vocab.IsEndOfGeneration[t])
                    allowed.Add(t);
            }

            if (allowed.Count == 0 && constraint.MustEnd)
                break;
            Assert.True(allowed.Count > 0, "no token allowed after " + JsonSerializer.Serialize(tokenizer.Decode([.. history])) + $" need {state.Need} complete {state.IsComplete} stacks {state.State.Stacks.Length}");

            // half the time a token that stops inside a character, when there is one
            var partial = allowed.Where(t => stepper.Step(state, vocab.Pieces[t]) is { Need: > 0 }).ToList();
            var pool = partial.Count > 0 && random.Next(2) == 0 ? partial : allowed;
            int chosen = pool[random.Next(pool.Count)];
            history.Add(chosen);
            constraint.Accept(chosen);
            if (constraint.State.Need > 0)
                partialStates++;
        }

        if (grammar == "multibyte")
            Assert.True(partialStates > 0, "no token ended inside a character");
        output.WriteLine($"{vocabulary}/{grammar}: {vocab.Count} tokens, trie {vocab.Trie.NodeCount} nodes, {clock.Elapsed.TotalMilliseconds / masks:F1} ms per full mask");
    }

    [Fact]
    public void End_of_generation_only_when_complete_and_silent_tokens_never()
    {
        var tokenizer = Qwen.Value;
        var vocab = GrammarVocabulary.For(tokenizer);
        var c = new GrammarConstraint(GrammarRules.Parse("root ::= \"ab\" \"c\"?"), vocab);
        int eos = vocab.EndOfGeneration[0];
        Assert.False(c.Allows(eos));
        int control = Enumerable.Range(0, vocab.Count).First(t => vocab.Pieces[t].Length == 0 && !vocab.IsEndOfGeneration[t]);
        Assert.False(c.Allows(control));
        c.Accept(tokenizer.GetTokenId("ab"));
        Assert.True(c.IsComplete);
        Assert.False(c.MustEnd);
        Assert.True(c.Allows(eos));
        c.Accept(tokenizer.GetTokenId("c"));
        Assert.True(c.MustEnd);
        var logits = new float[vocab.Count];
        c.Restrict(logits);
        Assert.Equal(vocab.EndOfGeneration, Enumerable.Range(0, vocab.Count).Where(t => logits[t] == 0));
    }

    [Fact]
    public void A_grammar_too_expensive_to_mask_is_refused_not_left_running()
    {
        // 60 alternatives of 1..60 wide characters: ~1800 stacks alive, every one taking almost any character
        var alternatives = Enumerable.Range(1, 60).Select(n => string.Join(" ", Enumerable.Repeat("[^\"]", n)));
        var g = GrammarRules.Parse("root ::= r*\nr ::= " + string.Join(" | ", alternatives));
        var c = new GrammarConstraint(g, GrammarVocabulary.For(Qwen.Value));
        c.Accept(Qwen.Value.Encode(new string('x', 40), addSpecial: false)[0]);
        var e = Assert.Throws<GrammarException>(() => c.Mask());
        Assert.Contains("too expensive", e.Message);
    }
}
