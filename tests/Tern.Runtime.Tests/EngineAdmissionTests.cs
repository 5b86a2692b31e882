using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

public sealed class EngineAdmissionTests : IDisposable
{
    private readonly EngineTestKit _kit = new();

    [Fact]
    public void A_prompt_that_fills_the_context_per_sequence_is_refused_naming_the_limit()
    {
        using var engine = _kit.Engine(new EngineOptions { ContextPerSequence = 16 });
        int[] prompt = Enumerable.Repeat(_kit.Encode("the")[^1], 16).ToArray();
        var e = Assert.Throws<ContextLengthExceededException>(() => engine.Submit(new GenerationRequest { PromptTokens = prompt }, EngineTestKit.Token));
        Assert.Equal(16, e.ContextLength);
        Assert.Equal(16, e.PromptTokens);
        Assert.Contains("context of 16 tokens", e.Message);
        Assert.Equal(0, engine.GetStats().RequestsTotal);

        // One token fewer fits.
        var ok = engine.Submit(new GenerationRequest { PromptTokens = prompt[..15], MaxTokens = 1 }, EngineTestKit.Token);
        Assert.Equal(15, ok.PromptTokens);
    }

    [Fact]
    public void The_default_context_per_sequence_is_the_models_up_to_4096()
    {
        using var engine = _kit.Engine();
        Assert.Equal(Math.Min(_kit.Model.Config.ContextLength, 4096), engine.ContextPerSequence);
        Assert.Equal(4, engine.Parallel);
    }

    [Fact]
    public async Task A_full_queue_refuses_more_requests_until_one_leaves()
    {
        using var engine = _kit.Engine(new EngineOptions { Parallel = 1, QueueCapacity = 1 });
        engine.Pause();
        var request = new GenerationRequest { PromptTokens = _kit.Encode("Once upon a time"), Sampling = _kit.NoEnd, MaxTokens = 3 };
        var first = engine.Submit(request, EngineTestKit.Token);
        var second = engine.Submit(request, EngineTestKit.Token);
        var e = Assert.Throws<QueueFullException>(() => engine.Submit(request, EngineTestKit.Token));
        Assert.Equal(1, e.QueueCapacity);
        Assert.Equal(1, e.Parallel);
        var stats = engine.GetStats();
        Assert.Equal(2, stats.QueueDepth);
        Assert.Equal(2, stats.RequestsTotal);
        Assert.Equal(1, stats.RequestsRejected);

        engine.Resume();
        await first.ReadToEndAsync(EngineTestKit.Token);
        await second.ReadToEndAsync(EngineTestKit.Token);
        var third = await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(3, third.Tokens.Count);
    }

    [Fact]
    public void Invalid_sampling_parameters_are_refused_naming_the_parameter()
    {
        using var engine = _kit.Engine();
        int[] prompt = _kit.Encode("Once upon a time");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = new SamplingParams { Temperature = -1 } }, EngineTestKit.Token));
        Assert.Equal(nameof(SamplingParams.Temperature), e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = new SamplingParams { TopP = 0 } }, EngineTestKit.Token));
        Assert.Equal(nameof(SamplingParams.TopP), e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = -1 }, EngineTestKit.Token));
        Assert.Equal(nameof(GenerationRequest.MaxTokens), e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Submit(new GenerationRequest { PromptTokens = prompt, TopLogprobs = -2 }, EngineTestKit.Token));
        Assert.Equal(nameof(GenerationRequest.TopLogprobs), e.ParamName);
        Assert.Equal(0, engine.GetStats().RequestsTotal);
    }

    [Fact]
    public void Empty_prompts_and_tokens_outside_the_vocabulary_are_refused()
    {
        using var engine = _kit.Engine();
        var empty = Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest { PromptTokens = [] }, EngineTestKit.Token));
        Assert.Equal(nameof(GenerationRequest.PromptTokens), empty.ParamName);
        var outside = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Submit(new GenerationRequest { PromptTokens = [1, _kit.Model.Config.VocabSize] }, EngineTestKit.Token));
        Assert.Equal(nameof(GenerationRequest.PromptTokens), outside.ParamName);
    }

    [Fact]
    public void Invalid_engine_options_are_refused_naming_the_option()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _kit.Engine(new EngineOptions { Parallel = 0 }));
        Assert.Equal(nameof(EngineOptions.Parallel), e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => _kit.Engine(new EngineOptions { Parallel = 8, StepTokenBudget = 4 }));
        Assert.Equal(nameof(EngineOptions.StepTokenBudget), e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => _kit.Engine(new EngineOptions { KvBlockTokens = 0 }));
        Assert.Equal(nameof(EngineOptions.KvBlockTokens), e.ParamName);
    }

    public void Dispose() => _kit.Dispose();
}
