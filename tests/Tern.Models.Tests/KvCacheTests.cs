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

public sealed class KvCacheSharingTests
{
    private const string Prefix = "A shared system prompt that many requests begin with, long enough for a few blocks.";

    [Fact]
    public void A_fork_shares_the_prefix_blocks_and_copies_one_only_when_written()
    {
        using var model = DecoderModel.Load(SharedData.Path("models/llama-tiny-q8_0.gguf"));
        var tokenizer = Tern.Tokenizers.Tokenizer.FromGguf(model.File);
        int[] prefix = tokenizer.Encode(Prefix);
        int[] a = tokenizer.Encode(" First continuation here.", addSpecial: false);
        int[] b = tokenizer.Encode(" Second, different one.", addSpecial: false);
        int vocab = model.Hyperparameters.VocabSize;
        using var cache = model.CreateKvCache(256, blockTokens: 8);

        var first = cache.CreateSequence();
        Forward(model, cache, first, prefix, 0, vocab);
        int prefixBlocks = first.Blocks.Count;
        int free = cache.FreeBlockCount;
        var second = cache.Fork(first, prefix.Length);
        Assert.Equal(free, cache.FreeBlockCount);
        Assert.Equal(first.Blocks, second.Blocks);
        Assert.All(first.Blocks, block => Assert.Equal(2, cache.ReferenceCount(block)));

        // Both continue after the shared prefix: only the partly filled last block is copied.
        float[] fromFirst = Forward(model, cache, first, a, prefix.Length, vocab);
        float[] fromSecond = Forward(model, cache, second, b, prefix.Length, vocab);
        int sharedFull = prefix.Length / 8;
        Assert.Equal(first.Blocks.Take(sharedFull), second.Blocks.Take(sharedFull));
        Assert.NotEqual(first.Blocks[prefixBlocks - 1], second.Blocks[prefixBlocks - 1]);

        // Each matches a sequence that never shared anything.
        using var fresh = model.CreateKvCache(256, blockTokens: 8);
        Assert.Equal(fromFirst, Run(model, fresh, [.. prefix, .. a], prefix.Length, vocab));
        Assert.Equal(fromSecond, Run(model, fresh, [.. prefix, .. b], prefix.Length, vocab));

        cache.Free(first);
        Assert.All(second.Blocks, block => Assert.Equal(1, cache.ReferenceCount(block)));
        cache.Free(second);
        Assert.Equal(cache.BlockCount, cache.FreeBlockCount);
    }

    private static float[] Run(DecoderModel model, KvCache cache, int[] tokens, int from, int vocab)
    {
        var sequence = cache.CreateSequence();
        var all = Forward(model, cache, sequence, tokens, 0, vocab);
        cache.Free(sequence);
        return all[(from * vocab)..];
    }

    private static float[] Forward(DecoderModel model, KvCache cache, KvSequence sequence, int[] tokens, int start, int vocab)
    {
        var batch = new TokenBatch();
        for (int i = 0; i < tokens.Length; i++)
            batch.Add(tokens[i], start + i, sequence, logits: true);
        var logits = new float[tokens.Length * vocab];
        model.Forward(batch, cache, logits);
        return logits;
    }
}
