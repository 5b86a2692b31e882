using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

/// <summary>
/// Prefix reuse on the hybrid qwen35moe, whose DeltaNet state cannot be cut back to a shorter prefix: the engine
/// keeps copies of it at block boundaries (checkpoints) and resumes a prompt from the nearest one.
/// </summary>
public sealed class RecurrentPrefixTests : IDisposable
{
    private const int Block = 16;
    private const string Story = "The quick brown fox jumps over the lazy dog while the kernel streams tokens through the cache. ";

    private readonly EngineTestKit _kit = new("models/qwen35moe-tiny-q8_0.gguf");
    private readonly EngineOptions _options = new() { Parallel = 2, KvBlockTokens = Block, CheckpointEvery = 4 * Block, RecurrentCheckpoints = 6 };

    private int[] Prompt(int repeats, string tail = "", string head = "") => _kit.Encode(head + string.Concat(Enumerable.Repeat(Story, repeats)) + tail);

    [Fact]
    public async Task A_conversation_continues_from_the_checkpoint_after_its_last_reply()
    {
        int[] first = Prompt(8);
        using var engine = _kit.Engine(_options);
        var r1 = await Run(engine, first, 24);
        Assert.Equal(0, r1.Finished.Usage.CachedTokens);

        // The next turn repeats the first prompt and reply, then adds to them.
        int[] second = [.. first, .. EngineTestKit.Ids(r1), .. _kit.Tokenizer.Encode(" And then the fox slept.", addSpecial: false)];
        var r2 = await Run(engine, second, 12);
        int cached = r2.Finished.Usage.CachedTokens;
        int reachable = (first.Length + r1.Tokens.Count - 1) / Block * Block; // the last block filled while decoding (the last token never ran)
        Assert.Equal(reachable, cached);
        Assert.True(cached >= second.Length - 3 * Block, $"{cached} of {second.Length} cached");
        Assert.Equal(second.Length - cached, r2.Finished.Timings.PromptTokensProcessed);

        var alone = await _kit.RunAlone(Request(second, 12), _options with { PrefixCache = false });
        Assert.Equal(EngineTestKit.Ids(alone), EngineTestKit.Ids(r2));
    }

    [Fact]
    public async Task A_prompt_that_diverges_resumes_from_the_last_checkpoint_before_the_divergence()
    {
        int[] first = Prompt(9, " The end.");
        using var engine = _kit.Engine(_options);
        await Run(engine, first, 4);

        int[] second = [.. first[..150], .. _kit.Tokenizer.Encode(" Something else entirely happened next.", addSpecial: false)];
        var r2 = await Run(engine, second, 8);
        // Checkpoints every 64 positions: 128 is the last at or before the 150 shared tokens.
        Assert.Equal(128, r2.Finished.Usage.CachedTokens);
        var alone = await _kit.RunAlone(Request(second, 8), _options with { PrefixCache = false });
        Assert.Equal(EngineTestKit.Ids(alone), EngineTestKit.Ids(r2));

        // The whole first prompt again: it resumes at its last whole block, where a checkpoint was taken.
        var again = await Run(engine, first, 4);
        Assert.Equal((first.Length - 1) / Block * Block, again.Finished.Usage.CachedTokens);
    }

    [Fact]
    public async Task Checkpoints_stay_within_their_bound_and_the_least_recently_used_go_first()
    {
        using var engine = _kit.Engine(_options with { RecurrentCheckpoints = 2 });
        int[] a = Prompt(6, head: "Alpha. "), b = Prompt(7, head: "Beta. "), c = Prompt(5, head: "Gamma. ");
        foreach (var prompt in new[] { a, b, c })
            await Run(engine, prompt, 2);
        // c's checkpoints are the newest: it resumes; a's were evicted: it runs from the start again.
        Assert.True((await Run(engine, c, 2)).Finished.Usage.CachedTokens > 0);
        Assert.Equal(0, (await Run(engine, a, 2)).Finished.Usage.CachedTokens);
    }

    [Fact]
    public async Task Cache_usage_counts_the_recurrent_state_a_running_sequence_holds()
    {
        using var engine = _kit.Engine(_options);
        var log = new StepLog();
        log.Attach(engine);
        EngineStats? during = null;
        log.Then = step =>
        {
            if (step.Step == 3)
                during = engine.GetStats();
        };
        await Run(engine, Prompt(1), 6);

        var s = during!;
        Assert.Equal(1, s.RecurrentSlotsUsed);
        Assert.Equal(_options.Parallel + _options.RecurrentCheckpoints, s.RecurrentSlotsTotal);
        Assert.True(s.RecurrentSlotBytes > 0 && s.KvBlockBytes > 0);
        double kvOnly = (double)(s.KvBlocksUsed - s.KvBlocksCachedOnly) / s.KvBlocksTotal;
        double expected = ((s.KvBlocksUsed - s.KvBlocksCachedOnly) * (double)s.KvBlockBytes + s.RecurrentSlotBytes)
            / (s.KvBlocksTotal * (double)s.KvBlockBytes + s.RecurrentSlotsTotal * (double)s.RecurrentSlotBytes);
        Assert.Equal(expected, s.CacheUsage, 12);
        Assert.NotEqual(kvOnly, s.CacheUsage, 6); // the recurrent slot weighs in

        var idle = engine.GetStats();
        Assert.Equal(0, idle.RecurrentSlotsUsed);
        Assert.Equal(0, idle.CacheUsage); // what the prefix cache alone keeps is free for the taking
    }

    private GenerationRequest Request(int[] prompt, int maxTokens) => new() { PromptTokens = prompt, Sampling = _kit.NoEnd, MaxTokens = maxTokens };

    private Task<GenerationResponse> Run(InferenceEngine engine, int[] prompt, int maxTokens) =>
        engine.Submit(Request(prompt, maxTokens), EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);

    public void Dispose() => _kit.Dispose();
}
