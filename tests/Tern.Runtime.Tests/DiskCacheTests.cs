using System.Collections.Concurrent;
using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

/// <summary>
/// The prefix cache's disk tier (--cache-dir): blocks written by one engine are found by the next one on the same
/// folder, and whatever is not this model's, damaged or left half-written is deleted instead of loaded.
/// </summary>
public sealed class DiskCacheTests : IDisposable
{
    private const int Block = 8;
    private const string Story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree. ";

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-disk-cache-").FullName;
    private readonly ConcurrentQueue<string> _warnings = new();

    private EngineOptions Options(long maxBytes = 1L << 30, string? dir = null) => new()
    {
        Parallel = 1,
        KvBlockTokens = Block,
        DiskCache = new DiskCacheOptions { Directory = dir ?? _dir, MaxBytes = maxBytes, Warn = _warnings.Enqueue },
    };

    private static async Task<GenerationResponse> Run(InferenceEngine engine, int[] prompt, EngineTestKit kit, int max = 8) =>
        await engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = kit.NoEnd, MaxTokens = max, TopLogprobs = 1 }, EngineTestKit.Token)
            .ReadToEndAsync(EngineTestKit.Token);

    /// <summary>Runs <paramref name="first"/> on an engine that is then disposed; returns the model's folder.</summary>
    private async Task<string> Warm(EngineTestKit kit, int[] first, EngineOptions? options = null)
    {
        using var engine = kit.Engine(options ?? Options());
        await Run(engine, first, kit);
        return engine.DiskCacheFolder!;
    }

    private static void AssertSameAsUncached(EngineTestKit kit, GenerationResponse alone, GenerationResponse resumed)
    {
        Assert.Equal(EngineTestKit.Ids(alone), EngineTestKit.Ids(resumed));
        for (int i = 0; i < alone.Tokens.Count; i++)
            Assert.Equal(alone.Tokens[i].Logprob, resumed.Tokens[i].Logprob, 1e-3f);
    }

    [Theory]
    [InlineData("models/stories260K.gguf")]
    [InlineData("models/gemma3-tiny-q8_0.gguf")]
    [InlineData("models/gemma4-tiny-q8_0.gguf")]
    [InlineData("models/qwen35moe-tiny-q8_0.gguf")]
    public async Task A_new_engine_on_the_same_folder_resumes_the_prompt_from_disk_with_the_same_output(string model)
    {
        using var kit = new EngineTestKit(model);
        int[] first = kit.Encode(string.Concat(Enumerable.Repeat(Story, 3)));
        Assert.True(first.Length > 4 * 32, "past a sliding window of 32");
        string folder = await Warm(kit, first);
        Assert.NotEmpty(Directory.GetFiles(folder, "*.blk"));

        int[] second = [.. first, .. kit.Tokenizer.Encode(" And then it rained.", addSpecial: false)];
        using var engine = kit.Engine(Options());
        var resumed = await Run(engine, second, kit);
        var stats = engine.GetStats();

        // As far as one engine that kept everything in RAM resumes (a hybrid model: the prompt's last checkpoint).
        int inRam;
        using (var ram = kit.Engine(Options() with { DiskCache = null }))
        {
            await Run(ram, first, kit);
            inRam = (await Run(ram, second, kit)).Finished.Usage.CachedTokens;
        }

        int cached = resumed.Finished.Usage.CachedTokens;
        Assert.True(cached >= first.Length - 2 * Block, $"{cached} of {first.Length} cached");
        Assert.Equal(inRam, cached);
        Assert.True(stats.DiskCacheHitTokens >= cached);
        Assert.Equal(second.Length - cached, stats.PromptTokensProcessed);
        Assert.True(stats.DiskCache!.Enabled);
        var alone = await kit.RunAlone(new GenerationRequest { PromptTokens = second, Sampling = kit.NoEnd, MaxTokens = 8, TopLogprobs = 1 }, Options() with { PrefixCache = false, DiskCache = null });
        AssertSameAsUncached(kit, alone, resumed);
        Assert.Empty(_warnings);
    }

    [Fact]
    public async Task Dispose_writes_every_cached_block_the_full_queue_skipped()
    {
        using var kit = new EngineTestKit();
        int[] prompt = kit.Encode(string.Concat(Enumerable.Repeat(Story, 3)));
        var options = Options() with { DiskCache = Options().DiskCache! with { QueueBytes = 1 } }; // room for one block
        string folder;
        using (var engine = kit.Engine(options))
        {
            var r = await Run(engine, prompt, kit);
            folder = engine.DiskCacheFolder!;
            await WaitUntil(() => engine.GetStats().DiskCache!.Pending == 0);
            var stats = engine.GetStats().DiskCache!;
            Assert.True(stats.Skipped > 0, "a prompt's blocks all cached in one step overflow a queue of one");
            Assert.True(stats.Files < (prompt.Length + r.Tokens.Count - 1) / Block);
        }

        // The reply's last token was never run: every full block before it is on disk.
        Assert.Equal((prompt.Length + 8 - 1) / Block, Directory.GetFiles(folder, "*.blk").Length);
    }

    [Fact]
    public async Task Files_of_another_layout_in_the_models_folder_are_deleted_and_not_loaded()
    {
        using var kit = new EngineTestKit();
        int[] prompt = kit.Encode(Story);
        string f16 = await Warm(kit, prompt);
        using var other = new EngineTestKit("models/llama-tiny-q8_0.gguf");
        string otherModel = await Warm(other, other.Encode(Story));
        var b16 = Options() with { KvBlockTokens = 16 }; // stories260K's head size (8) allows no quantized KV type; the block size is part of the layout as well
        string b16Folder;
        using (var engine = kit.Engine(b16))
            b16Folder = engine.DiskCacheFolder!;
        // Each model and KV layout has its folder: engines sharing the directory keep their files.
        Assert.Equal(3, new[] { f16, b16Folder, otherModel }.Distinct().Count());
        int copied = 0;
        foreach (var file in Directory.GetFiles(f16, "*.blk").Concat(Directory.GetFiles(otherModel, "*.blk")))
        {
            File.Copy(file, Path.Combine(b16Folder, Path.GetFileName(file)), overwrite: true);
            copied++;
        }

        using (var engine = kit.Engine(b16))
        {
            Assert.Empty(Directory.GetFiles(b16Folder));
            var r = await Run(engine, prompt, kit);
            Assert.Equal(0, r.Finished.Usage.CachedTokens);
            Assert.Equal(copied, engine.GetStats().DiskCache!.Rejected);
        }

        Assert.NotEmpty(Directory.GetFiles(f16, "*.blk")); // the others' files are untouched
        Assert.NotEmpty(Directory.GetFiles(otherModel, "*.blk"));
    }

    [Fact]
    public async Task A_damaged_block_is_deleted_when_read_and_the_prompt_is_computed_again()
    {
        using var kit = new EngineTestKit();
        int[] prompt = kit.Encode(Story + Story);
        string folder = await Warm(kit, prompt);
        string firstBlock = Path.Combine(folder, PrefixCache.Hash(PrefixCache.RootHash, prompt.AsSpan(0, Block)).ToString("x16") + ".blk");
        var bytes = File.ReadAllBytes(firstBlock);
        bytes[bytes.Length - 40] ^= 0x10; // in the body: the header still fits, only the checksum can tell
        File.WriteAllBytes(firstBlock, bytes);

        GenerationResponse r;
        using (var engine = kit.Engine(Options()))
        {
            r = await Run(engine, prompt, kit);
            Assert.Equal(0, r.Finished.Usage.CachedTokens);
            Assert.Equal(1, engine.GetStats().DiskCache!.Rejected);
        }

        // Deleted, then written again from the block computed anew.
        Assert.NotEqual(bytes, File.ReadAllBytes(firstBlock));
        var alone = await kit.RunAlone(new GenerationRequest { PromptTokens = prompt, Sampling = kit.NoEnd, MaxTokens = 8, TopLogprobs = 1 }, Options() with { PrefixCache = false, DiskCache = null });
        AssertSameAsUncached(kit, alone, r);
    }

    [Fact]
    public async Task Temporary_and_cut_short_files_left_by_a_crash_are_deleted_at_start()
    {
        using var kit = new EngineTestKit();
        int[] prompt = kit.Encode(Story);
        string folder = await Warm(kit, prompt);
        var files = Directory.GetFiles(folder, "*.blk");
        string cut = files[0];
        File.WriteAllBytes(cut, File.ReadAllBytes(cut)[..100]);
        string temp = Path.Combine(folder, "0123456789abcdef.4242.7.tmp");
        File.WriteAllBytes(temp, File.ReadAllBytes(files[1])[..50]);

        using var engine = kit.Engine(Options());

        Assert.False(File.Exists(temp));
        Assert.False(File.Exists(cut));
        Assert.Equal(files.Length - 1, Directory.GetFiles(folder).Length);
        Assert.Equal(files.Length - 1, engine.GetStats().DiskCache!.Files);
    }

    [Fact]
    public async Task The_folder_stays_within_its_size_least_recently_used_deleted_first()
    {
        using var kit = new EngineTestKit();
        int[] prompt = kit.Encode(string.Concat(Enumerable.Repeat(Story, 3)));
        string folder = await Warm(kit, prompt);
        long fileBytes = new FileInfo(Directory.GetFiles(folder, "*.blk")[0]).Length;
        int total = Directory.GetFiles(folder, "*.blk").Length;
        Assert.True(total > 6);
        string firstBlock = Path.Combine(folder, PrefixCache.Hash(PrefixCache.RootHash, prompt.AsSpan(0, Block)).ToString("x16") + ".blk");
        File.SetLastWriteTimeUtc(firstBlock, DateTime.UtcNow.AddHours(1)); // used last

        using var engine = kit.Engine(Options(maxBytes: 4 * fileBytes));

        var left = Directory.GetFiles(folder, "*.blk");
        Assert.Equal(4, left.Length);
        Assert.Contains(firstBlock, left);
        var stats = engine.GetStats().DiskCache!;
        Assert.Equal(total - 4, stats.Evictions);
        Assert.True(stats.Bytes <= 4 * fileBytes);
    }

    [Fact]
    public async Task A_folder_removed_under_the_engine_turns_the_tier_off_with_one_warning_and_requests_go_on()
    {
        using var kit = new EngineTestKit();
        using var engine = kit.Engine(Options());
        Directory.Delete(_dir, recursive: true);
        var prompts = Enumerable.Range(0, 3).Select(i => kit.Encode($"Request {i}. " + Story)).ToArray();
        foreach (var prompt in prompts)
            Assert.Equal(FinishReason.Length, (await Run(engine, prompt, kit)).Finished.Reason);
        await WaitUntil(() => !engine.GetStats().DiskCache!.Enabled);

        Assert.Single(_warnings);
        Assert.Contains("off from now on", _warnings.Single(), StringComparison.Ordinal);
        Assert.True(engine.GetStats().DiskCache!.Errors >= 1);
    }

    [Fact]
    public async Task A_full_disk_turns_the_tier_off_with_one_warning_and_requests_go_on()
    {
        string mount = Directory.CreateTempSubdirectory("tern-tmpfs-").FullName;
        Tmpfs.Mount(mount);
        try
        {
            using var kit = new EngineTestKit();
            using var engine = kit.Engine(Options(dir: mount));
            for (int i = 0; i < 40 && engine.GetStats().DiskCache!.Enabled; i++)
            {
                var r = await Run(engine, kit.Encode($"Request {i}. " + string.Concat(Enumerable.Repeat(Story, 3))), kit);
                Assert.Equal(FinishReason.Length, r.Finished.Reason);
                await WaitUntil(() => engine.GetStats().DiskCache is { } d && (!d.Enabled || d.Pending == 0));
            }

            var stats = engine.GetStats().DiskCache!;
            Assert.False(stats.Enabled);
            Assert.True(stats.Writes > 0);
            Assert.Single(_warnings);
            Assert.Contains("No space left on device", _warnings.Single(), StringComparison.Ordinal);
            Assert.Equal(FinishReason.Length, (await Run(engine, kit.Encode("After. " + Story), kit)).Finished.Reason);
        }
        finally
        {
            Tmpfs.Unmount(mount);
            Directory.Delete(mount, recursive: true);
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++)
            await Task.Delay(10, EngineTestKit.Token);
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }
}
