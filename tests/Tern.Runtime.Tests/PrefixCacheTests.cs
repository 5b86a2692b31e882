using Tern.Models;
using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

/// <summary>Prompt-prefix reuse through the engine.</summary>
public sealed class PrefixCacheEngineTests : IDisposable
{
    private const string Shared = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree.";

    private readonly EngineTestKit _kit = new();

    [Fact]
    public async Task A_second_request_with_the_same_prefix_reuses_its_blocks_and_runs_only_the_new_tokens()
    {
        var options = new EngineOptions { Parallel = 2, KvBlockTokens = 8 };
        int[] first = _kit.Encode(Shared + " She ran to get it.");
        int[] second = _kit.Encode(Shared + " Her mom said hello to the dog.");
        int shared = first.Zip(second).TakeWhile(p => p.First == p.Second).Count();
        Assert.True(shared >= 32, $"{shared} shared tokens");

        using var engine = _kit.Engine(options);
        var r1 = await engine.Submit(new GenerationRequest { PromptTokens = first, Sampling = _kit.NoEnd, MaxTokens = 8 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(0, r1.Finished.Usage.CachedTokens);
        var before = engine.GetStats();
        Assert.Equal(first.Length, before.PromptTokensProcessed);

        var request = new GenerationRequest { PromptTokens = second, Sampling = _kit.NoEnd, MaxTokens = 12 };
        var r2 = await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        var after = engine.GetStats();
        int cached = r2.Finished.Usage.CachedTokens;
        Assert.Equal(shared / 8 * 8, cached);
        Assert.Equal(second.Length - cached, after.PromptTokensProcessed - before.PromptTokensProcessed);
        Assert.Equal(second.Length - cached, r2.Finished.Timings.PromptTokensProcessed);
        Assert.Equal(cached, after.CachedPromptTokens);
        Assert.Equal(1, after.PrefixCacheHits);

        var uncached = await _kit.RunAlone(request, options with { PrefixCache = false });
        Assert.Equal(0, uncached.Finished.Usage.CachedTokens);
        Assert.Equal(EngineTestKit.Ids(uncached), EngineTestKit.Ids(r2));
        Assert.Equal(uncached.Text, r2.Text);
    }

    [Fact]
    public async Task A_fully_cached_prompt_recomputes_only_its_last_token()
    {
        var options = new EngineOptions { Parallel = 1, KvBlockTokens = 8 };
        int[] prompt = _kit.Encode(Shared)[..32];
        var request = new GenerationRequest { PromptTokens = prompt, Sampling = _kit.NoEnd, MaxTokens = 6, TopLogprobs = 2 };
        using var engine = _kit.Engine(options);
        var r1 = await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        var r2 = await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);

        Assert.Equal(31, r2.Finished.Usage.CachedTokens);
        Assert.Equal(1, r2.Finished.Timings.PromptTokensProcessed);
        Assert.Equal(32 + 1, engine.GetStats().PromptTokensProcessed);
        Assert.Equal(EngineTestKit.Ids(r1), EngineTestKit.Ids(r2));
        for (int i = 0; i < r1.Tokens.Count; i++)
            Assert.Equal(r1.Tokens[i].Logprob, r2.Tokens[i].Logprob, 1e-3f);

        // The cached last block was copied before the rewrite, so a third run still finds all of it.
        var r3 = await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(31, r3.Finished.Usage.CachedTokens);
        Assert.Equal(EngineTestKit.Ids(r1), EngineTestKit.Ids(r3));
    }

    [Fact]
    public async Task Concurrent_requests_share_the_cached_blocks_of_a_common_prefix()
    {
        var options = new EngineOptions { Parallel = 3, KvBlockTokens = 8 };
        int[] system = _kit.Encode(Shared);
        using var engine = _kit.Engine(options);
        await engine.Submit(new GenerationRequest { PromptTokens = system, MaxTokens = 0 }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        var requests = new[] { " She ran.", " He hid.", " They sang." }.Select(s => new GenerationRequest
        {
            PromptTokens = [.. system, .. _kit.Tokenizer.Encode(s, addSpecial: false)],
            Sampling = _kit.NoEnd,
            MaxTokens = 10,
        }).ToArray();
        engine.Pause();
        var streams = requests.Select(r => engine.Submit(r, EngineTestKit.Token)).ToArray();
        engine.Resume();
        var results = await Task.WhenAll(streams.Select(s => s.ReadToEndAsync(EngineTestKit.Token)));

        Assert.All(results, r => Assert.Equal(system.Length / 8 * 8, r.Finished.Usage.CachedTokens));
        Assert.Equal(4, engine.GetStats().PrefixCacheHits + 1);
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(EngineTestKit.Ids(await _kit.RunAlone(requests[i], options with { PrefixCache = false })), EngineTestKit.Ids(results[i]));
    }

    [Fact]
    public async Task Least_recently_used_cached_blocks_are_evicted_tail_first_when_the_pool_needs_them()
    {
        // 64 / 8 = 8 blocks for the one sequence, 4 more for cached prefixes: 12 in all.
        var options = new EngineOptions { Parallel = 1, ContextPerSequence = 64, KvBlockTokens = 8, PrefixCacheTokens = 32 };
        int[] x = _kit.Encode("Lily and Tom played with a big red ball in the park. The sun was hot and they were happy.")[..24];
        int[] y = _kit.Encode("One day, a big bear came to the little house in the woods. He was very hungry and sad.")[..24];
        int[] z = _kit.Encode("There was a girl named Sue. She had a cat and a dog. The cat liked to sleep and the dog liked to run fast in the yard.")[..50];
        Assert.NotEqual(x[..8], y[..8]);
        using var engine = _kit.Engine(options);
        Assert.Equal(12, engine.KvBlockCount);
        async Task<GenerationResponse> Run(int[] prompt, int max) =>
            await engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = _kit.NoEnd, MaxTokens = max }, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);

        var x1 = await Run(x, 1);
        var y1 = await Run(y, 1);
        var stats = engine.GetStats();
        Assert.Equal(6, stats.KvBlocksCachedOnly); // three full blocks of each prompt
        Assert.Equal(6, stats.KvBlocksUsed);

        // z needs 8 blocks with 6 free: the two least recently used cached blocks go, x's tail before its head.
        var z1 = await Run(z, 13);
        Assert.Equal(13, z1.Tokens.Count);
        stats = engine.GetStats();
        Assert.Equal(2, stats.PrefixCacheEvictions);
        Assert.Equal(11, stats.KvBlocksCachedOnly); // x's head, y's three, z's seven full blocks

        var y2 = await Run(y, 1);
        Assert.Equal(23, y2.Finished.Usage.CachedTokens);
        var x2 = await Run(x, 1);
        Assert.Equal(8, x2.Finished.Usage.CachedTokens);
        Assert.Equal(EngineTestKit.Ids(x1), EngineTestKit.Ids(x2));
        Assert.Equal(EngineTestKit.Ids(y1), EngineTestKit.Ids(y2));
    }

    [Fact]
    public async Task With_the_prefix_cache_off_nothing_is_kept_or_reused()
    {
        using var engine = _kit.Engine(new EngineOptions { Parallel = 1, KvBlockTokens = 8, PrefixCache = false });
        var request = new GenerationRequest { PromptTokens = _kit.Encode(Shared), Sampling = _kit.NoEnd, MaxTokens = 4 };
        await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        var again = await engine.Submit(request, EngineTestKit.Token).ReadToEndAsync(EngineTestKit.Token);
        Assert.Equal(0, again.Finished.Usage.CachedTokens);
        var stats = engine.GetStats();
        Assert.Equal(0, stats.KvBlocksUsed);
        Assert.Equal(0, stats.PrefixCacheHits);
        Assert.Equal(2L * request.PromptTokens.Count, stats.PromptTokensProcessed);
    }

    public void Dispose() => _kit.Dispose();
}

/// <summary>The prefix cache and the KV cache operations it uses, without a model.</summary>
public sealed class PrefixCacheTests
{
    private const int BlockTokens = 4;

    [Fact]
    public void Registered_blocks_outlive_their_sequence_and_are_found_again_by_content()
    {
        using var kv = State(64);
        var cache = new PrefixCache(kv);
        int[] tokens = Enumerable.Range(1, 10).ToArray(); // two full blocks and a partial one
        var sequence = Filled(kv, tokens.Length);
        var hashes = new List<ulong>();
        cache.ExtendHashes(tokens, hashes);
        Assert.Equal(2, hashes.Count);
        for (int i = 0; i < hashes.Count; i++)
            cache.Register(sequence, i, hashes[i], i == 0 ? PrefixCache.RootHash : hashes[i - 1], tokens.AsSpan(i * BlockTokens, BlockTokens));
        Assert.Equal(2, kv.ReferenceCount(0, sequence.Blocks[0]));
        Assert.Equal(0, cache.CountCachedOnly());
        var blocks = sequence.Blocks.Take(2).ToArray();
        kv.Free(sequence);
        Assert.Equal(2, cache.CountCachedOnly());
        Assert.Equal(kv.BlockCount - 2, kv.FreeBlockCount);

        var found = new List<int[]>();
        int[] longer = [.. tokens[..8], 42, 43, 44, 45];
        var longerHashes = new List<ulong>();
        cache.ExtendHashes(longer, longerHashes);
        cache.Match(longer, longerHashes, found);
        Assert.Equal(blocks, found.Select(b => b[0]));

        // A different second block: only the first matches; a different first block: nothing does.
        found.Clear();
        int[] other = [.. tokens[..4], 9, 9, 9, 9];
        var otherHashes = new List<ulong>();
        cache.ExtendHashes(other, otherHashes);
        cache.Match(other, otherHashes, found);
        Assert.Equal(blocks[..1], found.Select(b => b[0]));
        found.Clear();
        int[] shifted = [0, .. tokens[..7]];
        var shiftedHashes = new List<ulong>();
        cache.ExtendHashes(shifted, shiftedHashes);
        cache.Match(shifted, shiftedHashes, found);
        Assert.Empty(found);

        // A new sequence shares the found blocks.
        var reused = kv.CreateSequence([.. blocks.Select(b => new[] { b })], 8);
        Assert.Equal(8, reused.Length);
        Assert.Equal(blocks, reused.Blocks);
        Assert.Equal(2, kv.ReferenceCount(0, blocks[1]));
        Assert.Equal(0, cache.CountCachedOnly());
        Assert.Equal(0, cache.Evict(2)); // in use: not evictable
        kv.Free(reused);
        Assert.Equal(2, cache.Evict(5));
        Assert.Equal(kv.BlockCount, kv.FreeBlockCount);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_key_whose_stored_tokens_differ_is_a_miss_not_a_wrong_prefix()
    {
        using var kv = State(32);
        var cache = new PrefixCache(kv);
        int[] real = [1, 2, 3, 4];
        int[] forged = [5, 6, 7, 8];
        var sequence = Filled(kv, 4);
        // As if forged's block had collided with real's key.
        cache.Register(sequence, 0, PrefixCache.Hash(PrefixCache.RootHash, real), PrefixCache.RootHash, forged);
        var found = new List<int[]>();
        cache.Match(real, [PrefixCache.Hash(PrefixCache.RootHash, real)], found);
        Assert.Empty(found);
    }

    [Fact]
    public void Eviction_takes_least_recently_used_blocks_and_a_prefix_loses_its_tail_first()
    {
        using var kv = State(64);
        var cache = new PrefixCache(kv);
        var a = Cached(kv, cache, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        var b = Cached(kv, cache, [21, 22, 23, 24, 25, 26, 27, 28]);
        Assert.Equal(5, cache.CountCachedOnly());

        Assert.Equal(2, cache.Evict(2)); // a is older: its last two blocks go first
        Assert.True(cache.Contains(a[0]));
        Assert.False(cache.Contains(a[1]));
        Assert.False(cache.Contains(a[2]));
        Assert.True(cache.Contains(b[0]) && cache.Contains(b[1]));

        cache.Touch([a[0]]); // used again: now b is the least recent
        Assert.Equal(1, cache.Evict(1));
        Assert.False(cache.Contains(b[1]));
        Assert.True(cache.Contains(a[0]) && cache.Contains(b[0]));
        Assert.Equal(3, cache.Evictions);
    }

    [Fact]
    public void Kv_cache_holders_other_than_sequences_keep_blocks_alive()
    {
        using var kv = new KvCache(1, 4, 32, BlockTokens);
        var sequence = Filled(kv, 6);
        int block = sequence.Blocks[0];
        kv.Retain(block);
        Assert.Equal(2, kv.ReferenceCount(block));
        kv.Free(sequence);
        Assert.Equal(1, kv.ReferenceCount(block));
        Assert.Equal(kv.BlockCount - 1, kv.FreeBlockCount);
        kv.Release(block);
        Assert.Equal(kv.BlockCount, kv.FreeBlockCount);
        Assert.Throws<InvalidOperationException>(() => kv.Release(block));
        Assert.Throws<InvalidOperationException>(() => kv.Retain(block));
        Assert.Throws<InvalidOperationException>(() => kv.CreateSequence([block], 4));
    }

    [Fact]
    public void Blocks_to_write_counts_missing_blocks_and_copies_of_shared_ones()
    {
        using var kv = new KvCache(1, 4, 64, BlockTokens);
        var sequence = Filled(kv, 8);
        Assert.Equal(0, kv.BlocksToWrite(sequence, 6, 8));
        Assert.Equal(1, kv.BlocksToWrite(sequence, 8, 9));
        var shared = kv.CreateSequence(sequence.Blocks.ToArray(), 7);
        Assert.Equal(1, kv.BlocksToWrite(shared, 7, 8)); // the shared last block is copied
        Assert.Equal(2, kv.BlocksToWrite(shared, 7, 9));
        int free = kv.FreeBlockCount;
        kv.PrepareWrite(shared, 7, 9);
        Assert.Equal(free - 2, kv.FreeBlockCount);
        Assert.Throws<ArgumentException>(() => kv.CreateSequence(sequence.Blocks.ToArray(), 4));
    }

    /// <summary>State for one attention layer of one 4-wide head, in blocks of <see cref="BlockTokens"/>.</summary>
    private static StateCache State(int capacityTokens) =>
        new([new LayerSpec(0, new AttentionSpec(1, 1, 4, new RopeSpec(4, 10000f), Window: 0), FeedForwardKind.Dense)],
            new StateOptions { CapacityTokens = capacityTokens, BlockTokens = BlockTokens });

    private static SequenceState Filled(StateCache state, int length)
    {
        var sequence = state.CreateSequence();
        state.PrepareWrite(sequence, 0, length); // as after a forward pass over `length` positions
        return sequence;
    }

    private static KvSequence Filled(KvCache kv, int length)
    {
        var sequence = kv.CreateSequence();
        kv.PrepareWrite(sequence, 0, length);
        // The blocks now exist; the sequence is treated as holding `length` positions (as after a forward pass).
        var filled = kv.CreateSequence(sequence.Blocks.ToArray(), length);
        kv.Free(sequence);
        return filled;
    }

    private static int[] Cached(StateCache kv, PrefixCache cache, int[] tokens)
    {
        var sequence = Filled(kv, tokens.Length);
        var hashes = new List<ulong>();
        cache.ExtendHashes(tokens, hashes);
        for (int i = 0; i < hashes.Count; i++)
            cache.Register(sequence, i, hashes[i], i == 0 ? PrefixCache.RootHash : hashes[i - 1], tokens.AsSpan(i * BlockTokens, BlockTokens));
        int[] blocks = [.. sequence.Blocks];
        cache.Touch(blocks);
        kv.Free(sequence);
        return blocks;
    }
}
