namespace Tern.Models.Tests;

/// <summary>Per-sequence state as cache groups: full-attention KV, sliding-window KV, recurrent slots.</summary>
public sealed class StateCacheTests
{
    private const int BlockTokens = 8;

    private static LayerSpec Attention(int index, int window, int kvHeads = 1, int headDim = 4) =>
        new(index, new AttentionSpec(kvHeads, kvHeads, headDim, new RopeSpec(headDim, 10000f), window), FeedForwardKind.Dense);

    private static LayerSpec Recurrent(int index) => new(index, new DeltaNetSpec(4, 2, 4, 8, 8), FeedForwardKind.Experts);

    [Fact]
    public void Layers_of_each_kind_form_a_group_with_their_own_shapes()
    {
        // gemma4-like: sliding layers of 2 heads of 4, a global layer of 1 head of 8.
        using var state = new StateCache([Attention(0, 16, 2, 4), Attention(1, 0, 1, 8), Attention(2, 16, 2, 4)],
            new StateOptions { CapacityTokens = 64, BlockTokens = BlockTokens });
        Assert.Equal(2, state.Groups.Count);
        Assert.Equal([0, 16], state.Groups.Select(g => g.Window));
        Assert.Equal([1], state.Groups[0].Layers);
        Assert.Equal([0, 2], state.Groups[1].Layers);
        Assert.Equal((1, 1), state.KvLayer(2));
        Assert.Equal(new KvShape(1, 8), state.Groups[0].Cache.Layer(0).Shape);
        // F16: a token takes 8 key + 8 value halves in the global layer, 2·(8 + 8) in the two sliding ones.
        Assert.Equal(2L * (16 + 2 * 16), state.KvBytesPerToken);
        Assert.Null(state.Recurrent);
        Assert.Equal(0, state.RecurrentBytes);
    }

    [Fact]
    public void Sliding_window_blocks_are_released_as_they_leave_the_window()
    {
        using var state = new StateCache([Attention(0, 16), Attention(1, 0)], new StateOptions { CapacityTokens = 256, BlockTokens = BlockTokens });
        var s = state.CreateSequence();
        for (int start = 0; start < 200; start += 10)
            state.PrepareWrite(s, start, start + 10);

        var full = state.Groups[0].Cache;
        var sliding = state.Groups[1].Cache;
        Assert.Equal(25, s.Kv[0].Blocks.Count(b => b != KvCache.Hole));
        // The last step (positions 190..199) sees keys from 175 on: blocks 21..24 stay, 0..20 are gone.
        Assert.Equal(Enumerable.Range(0, 25).Select(b => b < 21), s.Kv[1].Blocks.Select(b => b == KvCache.Hole));
        Assert.Equal(full.BlockCount - 25, full.FreeBlockCount);
        Assert.Equal(sliding.BlockCount - 4, sliding.FreeBlockCount);

        // A holder other than the sequence (a prefix cache) keeps a block alive past the window.
        var t = state.CreateSequence();
        state.PrepareWrite(t, 0, 8);
        int kept = t.Kv[1].Blocks[0];
        state.Retain(1, kept);
        state.PrepareWrite(t, 8, 40);
        state.PrepareWrite(t, 40, 41); // sees keys from 25 on: blocks 0..2 leave
        Assert.Equal(KvCache.Hole, t.Kv[1].Blocks[0]);
        Assert.Equal(1, state.ReferenceCount(1, kept));

        state.Free(s);
        state.Free(t);
        state.Release(1, kept);
        Assert.Equal(sliding.BlockCount, sliding.FreeBlockCount);
        Assert.Equal(full.BlockCount, full.FreeBlockCount);
    }

    [Fact]
    public void A_cached_prefix_resumes_only_where_the_sliding_layers_still_have_their_window()
    {
        using var state = new StateCache([Attention(0, 16), Attention(1, 0)], new StateOptions { CapacityTokens = 256, BlockTokens = BlockTokens });
        int[][] blocks = [.. Enumerable.Range(0, 6).Select(b => new[] { b, b < 3 ? KvCache.Hole : b })];
        // Resuming at 48 needs keys from 33 on (blocks 4, 5): there. At 40 keys from 25 (block 3) on: there too.
        Assert.Equal(48, state.Resumable(blocks, 48));
        blocks[4][1] = KvCache.Hole;
        // Now 48 and 40 lack block 4; 32 needs blocks 2..3 from 17 on, and block 2 is gone; 24 needs from 9 on: gone.
        Assert.Equal(0, state.Resumable(blocks, 48));
        blocks[2][1] = 2;
        blocks[1][1] = 1;
        Assert.Equal(32, state.Resumable(blocks, 48));
    }

    [Fact]
    public void Recurrent_slots_are_taken_on_the_first_write_copied_by_a_fork_and_never_cut_back()
    {
        using var state = new StateCache([Recurrent(0), Attention(1, 0)], new StateOptions { CapacityTokens = 64, BlockTokens = BlockTokens, RecurrentSlots = 2 });
        var recurrent = state.Recurrent!;
        Assert.Equal((3 * (2 * 2 * 8 + 4 * 8) + 4 * 8 * 8) * 4L, recurrent.SlotBytes);
        Assert.Equal(2 * recurrent.SlotBytes, state.RecurrentBytes);
        var s = state.CreateSequence();
        Assert.Equal(-1, s.RecurrentSlot);
        state.PrepareWrite(s, 0, 5);
        Assert.True(s.RecurrentSlot >= 0);
        recurrent.Matrices(s.RecurrentSlot, 0).Fill(3f);

        var fork = state.Fork(s, 5);
        Assert.NotEqual(s.RecurrentSlot, fork.RecurrentSlot);
        Assert.All(recurrent.Matrices(fork.RecurrentSlot, 0).ToArray(), x => Assert.Equal(3f, x));
        Assert.Contains("cannot be forked at 3", Assert.Throws<ArgumentException>(() => state.Fork(s, 3)).Message);
        Assert.Contains("cannot be cut back to 2", Assert.Throws<ArgumentException>(() => state.Truncate(s, 2)).Message);
        Assert.Contains("continue from there", Assert.Throws<ArgumentException>(() => state.PrepareWrite(s, 3, 6)).Message);

        // Both slots are taken: a third sequence cannot start, and nothing of it is allocated.
        var third = state.CreateSequence();
        int free = state.FreeBlockCount;
        Assert.Throws<KvCacheFullException>(() => state.PrepareWrite(third, 0, 1));
        Assert.Equal(free, state.FreeBlockCount);

        state.Free(fork);
        state.PrepareWrite(third, 0, 1);
        Assert.All(recurrent.Matrices(third.RecurrentSlot, 0).ToArray(), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void A_forward_pass_refuses_state_laid_out_for_another_model()
    {
        using var qwen = DecoderModel.Load(SharedData.Path("models/qwen3-tiny-q8_0.gguf"));
        using var llama = DecoderModel.Load(SharedData.Path("models/llama-tiny-q8_0.gguf"));
        using var state = llama.CreateState(64);
        var batch = new TokenBatch();
        batch.Add(1, 0, state.CreateSequence(), logits: true);
        var e = Assert.Throws<ArgumentException>(() => qwen.Forward(batch, state, new float[qwen.Config.VocabSize]));
        Assert.Contains("another model's layers", e.Message);
    }
}

/// <summary>Mixture-of-Experts as grouped work: every expert a step selects runs in the same pool passes.</summary>
public sealed class GroupedExpertsTests
{
    [Fact]
    public void A_step_makes_as_many_pool_passes_whether_it_selects_two_experts_or_all_of_them()
    {
        using var model = DecoderModel.Load(SharedData.Path("models/qwen3moe-tiny-q8_0.gguf"));
        int vocab = model.Config.VocabSize;
        long Passes(int tokens)
        {
            using var state = model.CreateState(tokens * 32);
            var batch = new TokenBatch();
            for (int i = 0; i < tokens; i++)
                batch.Add((i * 131 + 7) % vocab, 0, state.CreateSequence(), logits: i == tokens - 1); // one sequence each
            long before = model.Pool.Jobs;
            model.Forward(batch, state, new float[vocab]);
            return model.Pool.Jobs - before;
        }

        // One token uses expert_used_count (2) experts per layer; 24 tokens of different sequences use nearly all 8.
        Assert.Equal(Passes(1), Passes(24));
    }
}
