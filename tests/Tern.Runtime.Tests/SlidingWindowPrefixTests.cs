using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

/// <summary>
/// Sliding-window models in the engine: a sequence lets go of the blocks that leave its window, but the prefix cache
/// keeps the blocks a cached prefix needs, so a longer prompt resumes at the cached prefix's end.
/// </summary>
public sealed class SlidingWindowPrefixTests
{
    private const int Block = 8;
    private const string Story = "The quick brown fox jumps over the lazy dog while the kernel streams tokens through the cache. ";

    [Theory]
    [InlineData("models/gemma3-tiny-q8_0.gguf")]
    [InlineData("models/gemma4-tiny-q8_0.gguf")]
    public async Task A_conversation_far_past_the_window_resumes_at_the_end_of_the_cached_prefix(string path)
    {
        using var kit = new EngineTestKit(path);
        var options = new EngineOptions { Parallel = 2, KvBlockTokens = Block };
        int[] first = kit.Encode(string.Concat(Enumerable.Repeat(Story, 8)));
        Assert.True(first.Length > 4 * 32, "the prompt reaches far past the 32-token window");
        using var engine = kit.Engine(options);
        var r1 = await engine.Submit(new GenerationRequest { PromptTokens = first, Sampling = kit.NoEnd, MaxTokens = 12 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);

        int[] second = [.. first, .. EngineTestKit.Ids(r1), .. kit.Tokenizer.Encode(" And then it rained.", addSpecial: false)];
        var request = new GenerationRequest { PromptTokens = second, Sampling = kit.NoEnd, MaxTokens = 8 };
        var r2 = await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        // The reply's last token was sampled but never run: the cache holds the positions before it.
        Assert.Equal((first.Length + r1.Tokens.Count - 1) / Block * Block, r2.Finished.Usage.CachedTokens);

        var alone = await kit.RunAlone(request, options with { PrefixCache = false });
        Assert.Equal(EngineTestKit.Ids(alone), EngineTestKit.Ids(r2));
    }
}
