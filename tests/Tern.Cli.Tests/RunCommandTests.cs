using Tern.Models;
using Tern.Tokenizers;

namespace Tern.Cli.Tests;

public sealed class RunCommandTests
{
    [Fact]
    public void Runs_the_embedded_model_without_m_and_reports_speeds_on_stderr()
    {
        var (code, stdout, stderr) = CliRunner.Run("run", "-p", "Once upon a time", "-n", "24", "--seed", "7");
        Assert.Equal(0, code);
        Assert.True(stdout.Trim().Length > 20, $"expected a story, got: {stdout}");
        Assert.Matches(@"prompt: \d+ tokens in [\d.]+ s, [\d.]+ tokens/s", stderr);
        Assert.Matches(@"generation: 24 tokens in [\d.]+ s, [\d.]+ tokens/s", stderr);
        Assert.Contains("temp 0.8", stderr);
    }

    [Fact]
    public void The_same_seed_gives_the_same_text_and_another_seed_differs()
    {
        string Run(string seed) => CliRunner.Run("run", "-p", "Once upon a time", "-n", "40", "--seed", seed).Stdout;
        Assert.Equal(Run("11"), Run("11"));
        Assert.NotEqual(Run("11"), Run("12"));
    }

    [Fact]
    public void Temperature_zero_is_greedy_decoding_step_by_step()
    {
        const string prompt = "Once upon a time";
        var (code, stdout, _) = CliRunner.Run("run", "-p", prompt, "-n", "30", "--temp", "0");
        Assert.Equal(0, code);

        // The same continuation computed here, one token per forward pass, always taking the argmax.
        using var model = DecoderModel.Load(DefaultModel.Path());
        var tokenizer = Tokenizer.FromGguf(model.File);
        var tokens = tokenizer.Encode(prompt).ToList();
        using var cache = model.CreateState(128);
        var sequence = cache.CreateSequence();
        var logits = new float[model.Config.VocabSize];
        var batch = new TokenBatch();
        batch.AddRange(tokens.ToArray(), 0, sequence);
        var generated = new List<int>();
        for (int step = 0; step < 30; step++)
        {
            model.Forward(batch, cache, logits);
            int next = Array.IndexOf(logits, logits.Max());
            if (tokenizer.IsEndOfGeneration(next))
                break;
            generated.Add(next);
            batch.Clear();
            batch.Add(next, tokens.Count + generated.Count - 1, sequence, logits: true);
        }

        Assert.Equal(tokenizer.Decode(generated.ToArray(), removeSpecial: true), stdout.TrimEnd('\n'));
    }

    [Theory]
    [InlineData("--temp", "-1", "Temperature")]
    [InlineData("--top-p", "0", "TopP")]
    [InlineData("-n", "-5", "--n-predict")]
    [InlineData("-c", "-1", "--ctx-size")]
    public void Bad_flags_give_a_one_line_error_naming_them(string flag, string value, string named)
    {
        var (code, _, stderr) = CliRunner.Run("run", "-p", "hi", flag, value);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains(named, stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }

    [Fact]
    public void A_context_too_small_for_the_prompt_is_a_clear_error()
    {
        var (code, _, stderr) = CliRunner.Run("run", "-p", "Once upon a time there was a cat", "-c", "4");
        Assert.Equal(1, code);
        Assert.Contains("leaves no room in a context of 4", stderr);
    }
}
