using Tern.Models;
using Tern.Runtime.Sampling;
using Tern.Tokenizers;

namespace Tern.Runtime.Tests;

public sealed class TextGeneratorTests : IDisposable
{
    private static readonly SamplingParams Greedy = new() { Temperature = 0 };
    private readonly DecoderModel _model = DecoderModel.Load(SharedData.Path("models/stories260K.gguf"));
    private readonly Tokenizer _tokenizer;

    public TextGeneratorTests() => _tokenizer = Tokenizer.FromGguf(_model.File);

    private TextGenerator Generator(int context = 512) => new(_model, _tokenizer, context);

    [Fact]
    public void Stops_at_the_token_limit_and_streams_exactly_the_returned_text()
    {
        var chunks = new List<string>();
        var result = Generator().Generate("Once upon a time", new GenerationOptions { Sampling = Greedy, MaxTokens = 12 }, chunks.Add, TestContext.Current.CancellationToken);
        Assert.Equal(StopReason.Length, result.StopReason);
        Assert.Equal(12, result.GeneratedTokens);
        Assert.Equal(string.Concat(chunks), result.Text);
        Assert.Equal(_tokenizer.Encode("Once upon a time").Length, result.PromptTokens);
    }

    [Fact]
    public void A_stop_string_ends_generation_and_is_not_emitted()
    {
        var full = Generator().Generate("Once upon a time", new GenerationOptions { Sampling = Greedy, MaxTokens = 40 }, null, TestContext.Current.CancellationToken);
        // Pick a word from the middle of the greedy continuation as the stop string.
        string stop = full.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4];
        var chunks = new List<string>();
        var result = Generator().Generate("Once upon a time", new GenerationOptions { Sampling = Greedy, MaxTokens = 40, Stop = [stop] }, chunks.Add, TestContext.Current.CancellationToken);
        Assert.Equal(StopReason.StopString, result.StopReason);
        Assert.Equal(full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)], result.Text);
        Assert.DoesNotContain(stop, string.Concat(chunks));
    }

    [Fact]
    public void Ends_at_end_of_generation_when_the_model_emits_it()
    {
        // Ban every token but end-of-text after the prompt: the first sampled token ends generation.
        var bias = Enumerable.Range(0, _model.Config.VocabSize).Where(t => !_tokenizer.IsEndOfGeneration(t))
            .ToDictionary(t => t, _ => float.NegativeInfinity);
        var result = Generator().Generate("Once upon a time", new GenerationOptions { Sampling = Greedy with { LogitBias = bias }, MaxTokens = 10 }, null, TestContext.Current.CancellationToken);
        Assert.Equal(StopReason.EndOfGeneration, result.StopReason);
        Assert.Equal(0, result.GeneratedTokens);
        Assert.Equal("", result.Text);
    }

    [Fact]
    public void Stops_when_the_context_is_full()
    {
        int prompt = _tokenizer.Encode("Once upon a time").Length;
        var result = Generator(context: prompt + 5).Generate("Once upon a time", new GenerationOptions { Sampling = Greedy with { LogitBias = NoEnd() } }, null, TestContext.Current.CancellationToken);
        Assert.Equal(StopReason.Length, result.StopReason);
        Assert.Equal(5, result.GeneratedTokens);
    }

    [Fact]
    public void Seeded_sampling_is_reproducible()
    {
        var options = new GenerationOptions { Sampling = new SamplingParams { Seed = 42 }, MaxTokens = 30 };
        Assert.Equal(Generator().Generate("Once upon a time", options, null, TestContext.Current.CancellationToken).Text, Generator().Generate("Once upon a time", options, null, TestContext.Current.CancellationToken).Text);
    }

    [Fact]
    public void A_prompt_that_fills_the_context_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Generator(context: 3).Generate("Once upon a time there was", new GenerationOptions(), null, TestContext.Current.CancellationToken));
        Assert.Contains("leaves no room in a context of 3", e.Message);
    }

    private Dictionary<int, float> NoEnd() =>
        Enumerable.Range(0, _model.Config.VocabSize).Where(_tokenizer.IsEndOfGeneration).ToDictionary(t => t, _ => float.NegativeInfinity);

    public void Dispose() => _model.Dispose();
}
