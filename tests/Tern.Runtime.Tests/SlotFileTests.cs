using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

/// <summary>
/// llama-server's slot save/restore/erase in the engine: a slot's cached prefix written as block records, read back
/// by another engine (a restarted server) into its prefix cache, with the same output as computing it again.
/// </summary>
public sealed class SlotFileTests
{
    private const int Block = 8;
    private const string Story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree. ";

    private static readonly EngineOptions Two = new() { Parallel = 2, KvBlockTokens = Block };

    private static GenerationRequest Request(EngineTestKit kit, int[] prompt, int? slot = null) =>
        new() { PromptTokens = prompt, Sampling = kit.NoEnd, MaxTokens = 6, TopLogprobs = 1, Slot = slot };

    private static async Task<GenerationResponse> Run(InferenceEngine engine, GenerationRequest request) =>
        await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);

    [Theory]
    [InlineData("models/stories260K.gguf")]
    [InlineData("models/gemma3-tiny-q8_0.gguf")]
    [InlineData("models/qwen35moe-tiny-q8_0.gguf")]
    public async Task A_saved_slot_restored_in_a_new_engine_resumes_the_conversation_with_the_same_output(string model)
    {
        using var kit = new EngineTestKit(model);
        int[] first = kit.Encode(string.Concat(Enumerable.Repeat(Story, 3)));
        var file = new MemoryStream();
        int saved;
        int[] second;
        using (var engine = kit.Engine(Two))
        {
            var reply = await Run(engine, Request(kit, first, slot: 1));
            second = [.. first, .. EngineTestKit.Ids(reply), .. kit.Tokenizer.Encode(" And then it rained.", addSpecial: false)];
            var result = await engine.SaveSlotAsync(1, file, EngineTestKit.Token);
            saved = result.Tokens;
            Assert.Equal(file.Length, result.Bytes);
            Assert.Equal((first.Length + reply.Tokens.Count - 1) / Block * Block, saved); // the whole blocks the request computed
            Assert.Equal(0, (await engine.SaveSlotAsync(0, new MemoryStream(), EngineTestKit.Token)).Tokens); // slot 0 ran nothing
        }

        using var restarted = kit.Engine(Two);
        file.Position = 0;
        var restored = await restarted.RestoreSlotAsync(0, file, EngineTestKit.Token);
        Assert.Equal(saved, restored.Tokens);
        Assert.Equal(file.Length, restored.Bytes);

        var resumed = await Run(restarted, Request(kit, second));
        var alone = await kit.RunAlone(Request(kit, second), Two with { PrefixCache = false });
        Assert.Equal(EngineTestKit.Ids(alone), EngineTestKit.Ids(resumed));
        for (int i = 0; i < alone.Tokens.Count; i++)
            Assert.Equal(alone.Tokens[i].Logprob, resumed.Tokens[i].Logprob, 1e-3f);
        int cached = resumed.Finished.Usage.CachedTokens;
        Assert.True(cached >= saved - 2 * Block && cached <= saved, $"{cached} of {saved} restored tokens reused"); // a hybrid model resumes at its last checkpoint
        Assert.True(cached > first.Length / 2);
        Assert.Equal(second.Length - cached, restarted.GetStats().PromptTokensProcessed);
    }

    [Fact]
    public async Task Erasing_a_slot_drops_its_prefix_and_the_prompt_is_computed_again()
    {
        using var kit = new EngineTestKit();
        int[] prompt = kit.Encode(Story + Story);
        using var engine = kit.Engine(Two);
        await Run(engine, Request(kit, prompt));
        Assert.True((await Run(engine, Request(kit, prompt))).Finished.Usage.CachedTokens > 0);

        int slot = engine.GetStats().Slots.Count; // the last request ran in one of the two slots; erase both
        int erased = 0;
        for (int i = 0; i < slot; i++)
            erased += await engine.EraseSlotAsync(i, EngineTestKit.Token);

        Assert.True(erased >= prompt.Length);
        Assert.Equal(0, (await Run(engine, Request(kit, prompt))).Finished.Usage.CachedTokens);
    }

    [Fact]
    public async Task A_file_of_another_model_or_a_damaged_one_is_refused_and_changes_nothing()
    {
        int[] prompt;
        var stories = new MemoryStream();
        using (var kit = new EngineTestKit())
        using (var engine = kit.Engine(Two))
        {
            prompt = kit.Encode(Story + Story);
            await Run(engine, Request(kit, prompt, slot: 0));
            await engine.SaveSlotAsync(0, stories, EngineTestKit.Token);
        }

        using var llama = new EngineTestKit("models/llama-tiny-q8_0.gguf");
        using var other = llama.Engine(Two);
        stories.Position = 0;
        var foreign = await Assert.ThrowsAsync<SlotFileException>(() => other.RestoreSlotAsync(0, stories, EngineTestKit.Token));
        Assert.Contains("another model", foreign.Message);

        using var kit2 = new EngineTestKit();
        using var same = kit2.Engine(Two);
        byte[] damaged = stories.ToArray();
        damaged[damaged.Length / 2] ^= 0x40;
        var e = await Assert.ThrowsAsync<SlotFileException>(() => same.RestoreSlotAsync(0, new MemoryStream(damaged), EngineTestKit.Token));
        Assert.Contains("damaged", e.Message);
        var cut = await Assert.ThrowsAsync<SlotFileException>(() => same.RestoreSlotAsync(0, new MemoryStream(stories.ToArray()[..^9]), EngineTestKit.Token));
        Assert.Contains("damaged", cut.Message);
        Assert.Equal(0, same.GetStats().KvBlocksUsed); // nothing of either file was kept
        Assert.Equal(0, (await Run(same, Request(kit2, prompt))).Finished.Usage.CachedTokens);
    }

    [Fact]
    public async Task A_slot_out_of_range_is_refused()
    {
        using var kit = new EngineTestKit();
        using var engine = kit.Engine(Two);
        Assert.Throws<ArgumentOutOfRangeException>(() => engine.Submit(Request(kit, kit.Encode("Hi"), slot: 2), EngineTestKit.Token));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => engine.EraseSlotAsync(-1, EngineTestKit.Token));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => engine.SaveSlotAsync(2, new MemoryStream(), EngineTestKit.Token));
    }
}
