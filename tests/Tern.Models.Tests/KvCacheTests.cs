namespace Tern.Models.Tests;

public sealed class KvCacheTests
{
    [Fact]
    public void Sequences_take_whole_blocks_and_return_them_when_truncated_or_freed()
    {
        using var cache = new KvCache(layers: 2, kvDim: 8, capacityTokens: 64, blockTokens: 16);
        Assert.Equal(4, cache.BlockCount);
        Assert.Equal(4L * 2 * 2 * 16 * 8 * sizeof(ushort), cache.ReservedBytes);
        var a = cache.CreateSequence();
        var b = cache.CreateSequence();
        Assert.NotEqual(a.Id, b.Id);

        cache.EnsureCapacity(a, 17);
        Assert.Equal(2, a.Blocks.Count);
        cache.EnsureCapacity(b, 16);
        Assert.Equal(1, cache.FreeBlockCount);
        Assert.Empty(a.Blocks.Intersect(b.Blocks));

        cache.Truncate(a, 16);
        Assert.Single(a.Blocks);
        Assert.Equal(2, cache.FreeBlockCount);
        cache.Free(b);
        Assert.Empty(b.Blocks);
        Assert.Equal(3, cache.FreeBlockCount);
    }

    [Fact]
    public void A_full_pool_throws_and_leaves_the_sequence_as_it_was()
    {
        using var cache = new KvCache(layers: 1, kvDim: 4, capacityTokens: 32, blockTokens: 16);
        var a = cache.CreateSequence();
        cache.EnsureCapacity(a, 16);
        var e = Assert.Throws<KvCacheFullException>(() => cache.EnsureCapacity(a, 48));
        Assert.Contains("KV cache full", e.Message);
        Assert.Single(a.Blocks);
        Assert.Equal(1, cache.FreeBlockCount);
    }

    [Fact]
    public void Forward_rejects_tokens_outside_the_vocabulary_and_gaps_in_positions()
    {
        using var model = DecoderModel.Load(SharedData.Path("models/llama-tiny-q4_0.gguf"));
        using var cache = model.CreateKvCache(64);
        var sequence = cache.CreateSequence();
        var logits = new float[model.Hyperparameters.VocabSize];

        var batch = new TokenBatch();
        batch.Add(5000, 0, sequence, logits: true);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => model.Forward(batch, cache, logits)).Message);

        batch.Clear();
        batch.Add(1, 3, sequence, logits: true);
        Assert.Contains("leaves a gap", Assert.Throws<ArgumentException>(() => model.Forward(batch, cache, logits)).Message);
        Assert.Equal(0, sequence.Length);
    }
}
