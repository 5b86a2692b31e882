using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

public sealed class EngineTests : IDisposable
{
    private static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog", "Lily wanted to play with her", "One day, a big bear",
        "Tom and Sue went to the park. They", "There was a girl named", "The sun was hot and", "A bird sang",
    ];

    private readonly EngineTestKit _kit = new();

    /// <summary>Eight requests, four or eight at a time; on the hybrid qwen35moe each stream's recurrent state
    /// lives in a slot of its own beside the others' in every step.</summary>
    [Theory]
    [InlineData("models/stories260K.gguf", 4)]
    [InlineData("models/llama-tiny-q8_0.gguf", 4)]
    [InlineData("models/qwen35moe-tiny-q8_0.gguf", 8)]
    [InlineData("models/qwen35moe-tiny-q4_k_m.gguf", 4)]
    [InlineData("models/gemma4-tiny-q8_0.gguf", 8)]
    public async Task Eight_concurrent_greedy_requests_each_produce_the_tokens_they_produce_alone(string path, int parallel)
    {
        using var other = path == "models/stories260K.gguf" ? null : new EngineTestKit(path);
        await EightConcurrent(other ?? _kit, parallel);
    }

    private static async Task EightConcurrent(EngineTestKit kit, int parallel)
    {
        var options = new EngineOptions { Parallel = parallel, KvBlockTokens = 16 };
        var requests = Prompts.Select((p, i) => new GenerationRequest { PromptTokens = kit.Encode(p), Sampling = EngineTestKit.Greedy, MaxTokens = 12 + 4 * i }).ToArray();
        var alone = new List<GenerationResponse>();
        foreach (var r in requests)
            alone.Add(await kit.RunAlone(r, options));

        using var engine = kit.Engine(options);
        var log = new StepLog();
        log.Attach(engine);
        engine.Pause(); // all eight queue before the first step: `parallel` start together, the rest wait and join as slots free
        var streams = requests.Select(r => engine.Submit(r, EngineTestKit.Token)).ToArray();
        Assert.Equal(8, engine.GetStats().QueueDepth);
        engine.Resume();
        var together = await Task.WhenAll(streams.Select(s => s.ReadToEndAsync(EngineTestKit.Token)));

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(EngineTestKit.Ids(alone[i]), EngineTestKit.Ids(together[i]));
            Assert.Equal(alone[i].Text, together[i].Text);
            Assert.Equal(alone[i].Finished.Reason, together[i].Finished.Reason);
        }

        // First in, first served: the first `parallel` start in the first step, the others as slots free up.
        Assert.Equal(streams[..parallel].Select(s => s.Id), log.Steps.First().Chunks.Select(c => c.RequestId));
        Assert.All(log.Steps, s => Assert.True(s.Chunks.Select(c => c.RequestId).Distinct().Count() <= parallel));
        var stats = engine.GetStats();
        Assert.Equal(8, stats.RequestsFinished);
        Assert.Equal(together.Sum(r => r.Finished.Usage.CompletionTokens), stats.GeneratedTokens);
        Assert.Equal(0, stats.ActiveSequences);
        Assert.Equal(stats.KvBlocksUsed, stats.KvBlocksCachedOnly);
    }

    [Fact]
    public async Task Greedy_text_matches_the_single_sequence_generator()
    {
        using var engine = _kit.Engine(new EngineOptions { Parallel = 3 });
        string[] prompts = Prompts[..3];
        var streams = prompts.Select(p => engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode(p), Sampling = EngineTestKit.Greedy, MaxTokens = 30 }, EngineTestKit.Token)).ToArray();
        var results = await Task.WhenAll(streams.Select(s => s.ReadToEndAsync(EngineTestKit.Token)));
        var generator = new TextGenerator(_kit.Model, _kit.Tokenizer, 512);
        for (int i = 0; i < prompts.Length; i++)
        {
            var expected = generator.Generate(prompts[i], new GenerationOptions { Sampling = EngineTestKit.Greedy, MaxTokens = 30 }, null, EngineTestKit.Token);
            // The engine's text continues the prompt, so it keeps the first token's leading space.
            string text = results[i].Text;
            Assert.Equal(expected.Text, text.StartsWith(' ') ? text[1..] : text);
            Assert.Equal(expected.GeneratedTokens, results[i].Finished.Usage.CompletionTokens);
        }
    }

    [Fact]
    public async Task Requests_of_different_lengths_join_and_leave_while_others_decode()
    {
        var options = new EngineOptions { Parallel = 3, KvBlockTokens = 16 };
        var a = new GenerationRequest { Id = "a", PromptTokens = _kit.Encode(Prompts[0]), Sampling = _kit.NoEnd, MaxTokens = 30 };
        var b = new GenerationRequest { Id = "b", PromptTokens = _kit.Encode(Prompts[1]), Sampling = _kit.NoEnd, MaxTokens = 5 };
        var c = new GenerationRequest { Id = "c", PromptTokens = _kit.Encode(Prompts[2]), Sampling = _kit.NoEnd, MaxTokens = 10 };

        using var engine = _kit.Engine(options);
        var log = new StepLog();
        log.Attach(engine);
        GenerationStream? late = null;
        log.Then = step =>
        {
            if (step.Step == 8)
                late = engine.Submit(c, EngineTestKit.Token); // joins while a is decoding and after b left
        };
        engine.Pause();
        var sa = engine.Submit(a, EngineTestKit.Token);
        var sb = engine.Submit(b, EngineTestKit.Token);
        engine.Resume();
        var ra = await sa.ReadToEndAsync(EngineTestKit.Token);
        var rb = await sb.ReadToEndAsync(EngineTestKit.Token);
        Assert.NotNull(late);
        var rc = await late.ReadToEndAsync(EngineTestKit.Token);

        Assert.Equal([30, 5, 10], new[] { ra, rb, rc }.Select(r => r.Tokens.Count));
        Assert.All(new[] { ra, rb, rc }, r => Assert.Equal(FinishReason.Length, r.Finished.Reason));
        var steps = log.Steps.ToArray();
        long StepsOf(string id, Func<StepRecord, long> pick) => steps.Where(s => s.Chunks.Any(ch => ch.RequestId == id)).Select(pick).DefaultIfEmpty(-1).Max();
        long lastB = StepsOf("b", s => s.Step), firstC = steps.First(s => s.Chunks.Any(ch => ch.RequestId == "c")).Step, lastA = StepsOf("a", s => s.Step);
        Assert.True(lastB < firstC, $"b left at step {lastB}, c joined at {firstC}");
        Assert.True(firstC < lastA, $"c joined at step {firstC}, a left at {lastA}");
        Assert.Contains(steps, s => s.Chunks.Any(ch => ch.RequestId == "a" && !ch.Prompt) && s.Chunks.Any(ch => ch.RequestId == "c" && ch.Prompt));

        Assert.Equal(EngineTestKit.Ids(await _kit.RunAlone(a, options)), EngineTestKit.Ids(ra));
        Assert.Equal(EngineTestKit.Ids(await _kit.RunAlone(b, options)), EngineTestKit.Ids(rb));
        Assert.Equal(EngineTestKit.Ids(await _kit.RunAlone(c, options)), EngineTestKit.Ids(rc));
    }

    [Fact]
    public async Task A_long_prompt_is_processed_in_chunks_under_the_step_budget_while_another_sequence_keeps_decoding()
    {
        const int budget = 8;
        var options = new EngineOptions { Parallel = 2, StepTokenBudget = budget, KvBlockTokens = 16, PrefixCache = false };
        string story = string.Concat(Enumerable.Repeat("Lily and Tom played with a big red ball in the park. ", 6));
        var decoder = new GenerationRequest { Id = "decoder", PromptTokens = _kit.Encode(Prompts[0]), Sampling = _kit.NoEnd, MaxTokens = 60 };
        var longPrompt = new GenerationRequest { Id = "long", PromptTokens = _kit.Encode(story), Sampling = _kit.NoEnd, MaxTokens = 5 };
        Assert.True(longPrompt.PromptTokens.Count > 8 * budget);

        using var engine = _kit.Engine(options);
        var log = new StepLog();
        log.Attach(engine);
        GenerationStream? second = null;
        var slotsDuringPrefill = new List<IReadOnlyList<SlotSnapshot>>();
        log.Then = step =>
        {
            if (step.Step == 3)
                second = engine.Submit(longPrompt, EngineTestKit.Token);
            if (step.Chunks.Any(c => c.RequestId == "long" && c.Prompt))
                slotsDuringPrefill.Add(engine.GetStats().Slots);
        };
        var first = engine.Submit(decoder, EngineTestKit.Token);
        var r1 = await first.ReadToEndAsync(EngineTestKit.Token);
        Assert.NotNull(second);
        var r2 = await second.ReadToEndAsync(EngineTestKit.Token);

        var steps = log.Steps.ToArray();
        Assert.All(steps, s => Assert.True(s.Tokens <= budget, $"step {s.Step} ran {s.Tokens} tokens"));
        var prefill = steps.Where(s => s.Chunks.Any(c => c.RequestId == "long" && c.Prompt)).ToArray();
        int promptLength = longPrompt.PromptTokens.Count;
        Assert.Equal(promptLength, prefill.Sum(s => s.Chunks.Single(c => c.RequestId == "long").Count));
        Assert.True(prefill.Length >= (promptLength + budget - 2) / (budget - 1), $"{prefill.Length} prefill steps");
        // The running stream got its token in every one of those steps.
        Assert.All(prefill, s => Assert.Contains(s.Chunks, c => c.RequestId == "decoder" && c.Count == 1 && !c.Prompt));
        Assert.All(slotsDuringPrefill.SkipLast(1), slots =>
        {
            Assert.Contains(slots, s => s.RequestId == "long" && s.State == SlotState.Prefilling);
            Assert.Contains(slots, s => s.RequestId == "decoder" && s.State == SlotState.Decoding);
        });

        Assert.Equal(60, r1.Tokens.Count);
        Assert.Equal(EngineTestKit.Ids(await _kit.RunAlone(longPrompt, options with { StepTokenBudget = 512 })), EngineTestKit.Ids(r2));
        Assert.Equal(promptLength, r2.Finished.Timings.PromptTokensProcessed);
        Assert.Equal(decoder.PromptTokens.Count + promptLength, engine.GetStats().PromptTokensProcessed);
    }

    [Fact]
    public async Task Stops_at_max_tokens_with_a_length_finish()
    {
        using var engine = _kit.Engine();
        var r = await engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("Once upon a time"), Sampling = _kit.NoEnd, MaxTokens = 7 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(FinishReason.Length, r.Finished.Reason);
        Assert.Equal(StopReason.Length, r.Finished.StopReason);
        Assert.Equal(7, r.Tokens.Count);
        Assert.Equal(new GenerationUsage(_kit.Encode("Once upon a time").Length, 0, 7), r.Finished.Usage);
        Assert.Equal(_kit.Tokenizer.Decode(EngineTestKit.Ids(r)), r.Text);
    }

    [Fact]
    public async Task Max_tokens_zero_only_evaluates_the_prompt()
    {
        using var engine = _kit.Engine();
        int[] prompt = _kit.Encode("Once upon a time");
        var r = await engine.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = 0 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(FinishReason.Length, r.Finished.Reason);
        Assert.Empty(r.Tokens);
        Assert.Equal(prompt.Length, engine.GetStats().PromptTokensProcessed);
    }

    [Fact]
    public async Task Stops_when_the_context_per_sequence_is_full()
    {
        using var engine = _kit.Engine(new EngineOptions { ContextPerSequence = 16, Parallel = 2 });
        int[] prompt = _kit.Encode("Once upon a time");
        var r = await engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = _kit.NoEnd }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(FinishReason.Length, r.Finished.Reason);
        Assert.Equal(16 - prompt.Length, r.Finished.Usage.CompletionTokens);
    }

    [Fact]
    public async Task A_stop_string_ends_generation_and_no_part_of_it_is_streamed()
    {
        using var engine = _kit.Engine();
        int[] prompt = _kit.Encode("Once upon a time");
        var full = await engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = _kit.NoEnd, MaxTokens = 40 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        string stop = full.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4];

        var stream = engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = _kit.NoEnd, MaxTokens = 40, Stop = [stop, "never appears"] }, EngineTestKit.Token);
        var deltas = new List<string>();
        GenerationFinished? finished = null;
        await foreach (var e in stream.WithCancellation(EngineTestKit.Token))
        {
            if (e is GenerationDelta d)
                deltas.Add(d.Text);
            else
                finished = (GenerationFinished)e;
        }

        Assert.NotNull(finished);
        Assert.Equal(FinishReason.Stop, finished.Reason);
        Assert.Equal(StopReason.StopString, finished.StopReason);
        Assert.Equal(stop, finished.StopString);
        Assert.Equal(full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)], string.Concat(deltas));
        Assert.DoesNotContain(deltas, d => d.Contains(stop, StringComparison.Ordinal));
        Assert.True(finished.Usage.CompletionTokens < 40);
    }

    [Fact]
    public async Task Each_token_carries_its_logprob_and_the_requested_top_alternatives()
    {
        using var engine = _kit.Engine();
        int[] prompt = _kit.Encode("Once upon a time");
        var withTop = await engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = _kit.NoEnd, MaxTokens = 10, TopLogprobs = 3 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(10, withTop.Tokens.Count);
        Assert.All(withTop.Tokens, t =>
        {
            Assert.Equal(3, t.TopLogprobs.Count);
            Assert.Equal(t.Id, t.TopLogprobs[0].Token); // greedy picks the most likely
            Assert.Equal(t.TopLogprobs[0].Logprob, t.Logprob, 1e-4f);
            Assert.True(t.TopLogprobs[0].Logprob >= t.TopLogprobs[1].Logprob && t.TopLogprobs[1].Logprob >= t.TopLogprobs[2].Logprob);
            Assert.True(t.Logprob <= 0);
        });

        var without = await engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = _kit.NoEnd, MaxTokens = 10 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(EngineTestKit.Ids(withTop), EngineTestKit.Ids(without));
        Assert.All(without.Tokens, t => Assert.Empty(t.TopLogprobs));
        Assert.All(without.Tokens, t => Assert.True(float.IsFinite(t.Logprob) && t.Logprob <= 0));
    }

    [Fact]
    public async Task A_request_that_fails_inside_the_loop_gets_the_error_and_the_others_go_on()
    {
        using var engine = _kit.Engine(new EngineOptions { Parallel = 2 });
        int vocab = _kit.Model.Config.VocabSize;
        var banAll = EngineTestKit.Greedy with { LogitBias = Enumerable.Range(0, vocab).ToDictionary(t => t, _ => float.NegativeInfinity) };
        engine.Pause();
        var good = engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("Once upon a time"), Sampling = _kit.NoEnd, MaxTokens = 20 }, EngineTestKit.Token);
        var bad = engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("The little dog"), Sampling = banAll, MaxTokens = 20 }, EngineTestKit.Token);
        engine.Resume();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => bad.ReadToEndAsync(EngineTestKit.Token));
        Assert.Contains("No token can be sampled", error.Message);
        var r = await good.ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(20, r.Tokens.Count);
        var stats = engine.GetStats();
        Assert.Equal(1, stats.RequestsFailed);
        Assert.Equal(1, stats.RequestsFinished);
        Assert.Equal(stats.KvBlocksUsed, stats.KvBlocksCachedOnly);

        // The loop still serves new requests.
        var after = await engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("A bird sang"), Sampling = _kit.NoEnd, MaxTokens = 3 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(3, after.Tokens.Count);
    }

    [Fact]
    public async Task Stats_and_slots_describe_the_engine()
    {
        var options = new EngineOptions { Parallel = 2, ContextPerSequence = 128, KvBlockTokens = 16, PrefixCacheTokens = 64 };
        using var engine = _kit.Engine(options);
        var idle = engine.GetStats();
        Assert.Equal(2 * 128 / 16 + 64 / 16, idle.KvBlocksTotal);
        Assert.Equal(idle.KvBlocksTotal, engine.KvBlockCount);
        Assert.Equal(16, idle.KvBlockTokens);
        Assert.Equal(0, idle.KvBlocksUsed);
        Assert.Equal([SlotState.Idle, SlotState.Idle], idle.Slots.Select(s => s.State));
        var h = _kit.Model.Config;
        Assert.Equal((long)idle.KvBlocksTotal * 16 * h.BlockCount * 2 * h.KvDim * sizeof(ushort), engine.ReservedKvBytes);

        var log = new StepLog();
        log.Attach(engine);
        EngineStats? during = null;
        log.Then = step =>
        {
            if (step.Step == 3)
                during = engine.GetStats();
        };
        int[] prompt = _kit.Encode("Once upon a time");
        var r = await engine.Submit(new GenerationRequest { Id = "story", PromptTokens = prompt, Sampling = _kit.NoEnd, MaxTokens = 10 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.NotNull(during);
        var slot = Assert.Single(during.Slots, s => s.State != SlotState.Idle);
        Assert.Equal(new SlotSnapshot(slot.Id, SlotState.Decoding, "story", prompt.Length, 0, prompt.Length, 3), slot);
        Assert.Equal(1, during.ActiveSequences);
        Assert.True(during.KvBlocksUsed >= 1);

        var after = engine.GetStats();
        Assert.Equal(1, after.RequestsTotal);
        Assert.Equal(1, after.RequestsFinished);
        Assert.Equal(10, after.GeneratedTokens);
        Assert.Equal(prompt.Length, after.PromptTokensProcessed);
        Assert.Equal(10, after.Steps);
        Assert.Equal(0, after.ActiveSequences);
        Assert.Equal(0, after.QueueDepth);
        Assert.Equal((prompt.Length + 9) / 16, after.KvBlocksCachedOnly); // the full blocks stay cached
        Assert.Equal(10, r.Finished.Timings.GeneratedTokens);
        Assert.Equal(prompt.Length, r.Finished.Timings.PromptTokensProcessed);
    }

    [Fact]
    public async Task Disposing_the_engine_ends_queued_and_running_requests_as_cancelled()
    {
        var engine = _kit.Engine(new EngineOptions { Parallel = 1 });
        var log = new StepLog();
        log.Attach(engine);
        using var started = new SemaphoreSlim(0);
        log.Then = step =>
        {
            if (step.Step == 1)
            {
                engine.Pause(); // holds the loop with one request running and one queued
                started.Release();
            }
        };
        var running = engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("Once upon a time"), Sampling = _kit.NoEnd, MaxTokens = 400 }, EngineTestKit.Token);
        var queued = engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("A bird sang"), Sampling = _kit.NoEnd }, EngineTestKit.Token);
        await started.WaitAsync(EngineTestKit.Token);
        engine.Dispose();

        Assert.Equal(FinishReason.Cancelled, (await running.ReadToEndAsync(EngineTestKit.Token)).Finished.Reason);
        var q = await queued.ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(FinishReason.Cancelled, q.Finished.Reason);
        Assert.Empty(q.Tokens);
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("x") }, EngineTestKit.Token));
    }

    public void Dispose() => _kit.Dispose();
}
