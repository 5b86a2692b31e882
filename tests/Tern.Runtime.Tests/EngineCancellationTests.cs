using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

public sealed class EngineCancellationTests : IDisposable
{
    private readonly EngineTestKit _kit = new();

    [Fact]
    public async Task A_cancelled_request_leaves_at_the_next_step_and_its_blocks_return_to_the_pool()
    {
        using var engine = _kit.Engine(new EngineOptions { Parallel = 2, KvBlockTokens = 8, PrefixCache = false });
        using var client = CancellationTokenSource.CreateLinkedTokenSource(EngineTestKit.Token);
        var log = new StepLog();
        log.Attach(engine);
        int generatedAtCancel = -1, usedAtCancel = -1;
        log.Then = step =>
        {
            if (step.Step == 12)
            {
                var stats = engine.GetStats();
                generatedAtCancel = stats.Slots.Single(s => s.RequestId == "gone").GeneratedTokens;
                usedAtCancel = stats.KvBlocksUsed;
                client.Cancel(); // the client disconnects between two steps
            }
        };
        engine.Pause();
        var gone = engine.Submit(new GenerationRequest { Id = "gone", PromptTokens = _kit.Encode("Once upon a time"), Sampling = _kit.NoEnd, MaxTokens = 400 }, client.Token);
        var stays = engine.Submit(new GenerationRequest { Id = "stays", PromptTokens = _kit.Encode("The little dog"), Sampling = _kit.NoEnd, MaxTokens = 30 }, EngineTestKit.Token);
        engine.Resume();

        var r = await gone.ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(FinishReason.Cancelled, r.Finished.Reason);
        Assert.Equal(12, generatedAtCancel);
        Assert.Equal(generatedAtCancel, r.Finished.Usage.CompletionTokens); // no token after the cancelling step
        Assert.Equal(generatedAtCancel, r.Tokens.Count);
        Assert.All(log.Steps.Where(s => s.Step > 12), s => Assert.DoesNotContain(s.Chunks, c => c.RequestId == "gone"));

        var s = await stays.ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(30, s.Tokens.Count);
        var after = engine.GetStats();
        Assert.True(usedAtCancel > 0);
        Assert.Equal(0, after.KvBlocksUsed);
        Assert.Equal(1, after.RequestsCancelled);
        Assert.Equal(1, after.RequestsFinished);
    }

    [Fact]
    public async Task A_request_cancelled_while_queued_ends_without_running()
    {
        using var engine = _kit.Engine(new EngineOptions { Parallel = 1 });
        using var client = new CancellationTokenSource();
        engine.Pause();
        var first = engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("Once upon a time"), Sampling = _kit.NoEnd, MaxTokens = 5 }, EngineTestKit.Token);
        var queued = engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("A bird sang"), Sampling = _kit.NoEnd, MaxTokens = 5 }, client.Token);
        await client.CancelAsync();
        engine.Resume();

        var q = await queued.ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(FinishReason.Cancelled, q.Finished.Reason);
        Assert.Equal(new GenerationUsage(queued.PromptTokens, 0, 0), q.Finished.Usage);
        Assert.Equal(5, (await first.ReadToEndAsync(EngineTestKit.Token)).Tokens.Count);
        Assert.Equal(_kit.Encode("Once upon a time").Length, engine.GetStats().PromptTokensProcessed);
    }

    [Fact]
    public void An_already_cancelled_token_is_refused_at_submit()
    {
        using var engine = _kit.Engine();
        Assert.Throws<OperationCanceledException>(() => engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("Once") }, new CancellationToken(canceled: true)));
        Assert.Equal(0, engine.GetStats().RequestsTotal);
    }

    public void Dispose() => _kit.Dispose();
}
