using Tern.Tokenizers;

namespace Tern.Models.Tests;

/// <summary>A sequence's logits do not depend on how its prompt is split into batches or what shares the batch.</summary>
public sealed class BatchInvarianceTests
{
    private const string Prompt = "The quick brown fox jumps over the lazy dog while the kernel streams tokens through the cache.";
    // The same KV block size throughout: a different block size changes the online softmax's summation order,
    // which is a different (equally valid) computation, not a batching effect.
    private const int BlockTokens = 8;
    private const string Other = "A second, unrelated prompt that shares the batch.";

    [Theory]
    [InlineData("models/llama-tiny-q4_0.gguf")]
    [InlineData("models/llama-moe-tiny-q4_k_m.gguf")]
    [InlineData("models/qwen2-tiny-q8_0.gguf")]
    [InlineData("models/bitnet-tiny-tq2_0.gguf")]
    [InlineData("models/qwen3-tiny-q8_0.gguf")]
    [InlineData("models/qwen3moe-tiny-q4_k_m.gguf")]
    [InlineData("models/qwen35moe-tiny-q8_0.gguf")]
    [InlineData("models/qwen35moe-tiny-f32.gguf")]
    public void Logits_are_the_same_in_one_batch_in_chunks_token_by_token_and_mixed_with_other_sequences(string path) =>
        AssertBatchInvariant(path, Prompt);

    /// <summary>gemma3 and gemma4 over a prompt four times their sliding window (32): the window's start moves through
    /// blocks and chunks, and a split prompt's later chunks see only the window's part of the earlier ones; gemma4's
    /// sliding and global layers, of different head sizes and KV heads, sit in cache groups of their own.</summary>
    [Theory]
    [InlineData("models/gemma3-tiny-q4_k_m.gguf")]
    [InlineData("models/gemma4-tiny-q4_k_m.gguf")]
    public void Logits_past_the_sliding_window_are_the_same_in_one_batch_in_chunks_token_by_token_and_mixed(string path)
    {
        string prompt = string.Join(" ", Enumerable.Repeat(Prompt, 6));
        using (var model = DecoderModel.Load(SharedData.Path(path)))
            Assert.True(Tokenizer.FromGguf(model.File).Encode(prompt).Length > 4 * model.Config.SlidingWindow);
        AssertBatchInvariant(path, prompt);
    }

    private static void AssertBatchInvariant(string path, string prompt)
    {
        using var model = DecoderModel.Load(SharedData.Path(path));
        var tokenizer = Tokenizer.FromGguf(model.File);
        int[] tokens = tokenizer.Encode(prompt);
        int[] other = tokenizer.Encode(Other);
        int vocab = model.Config.VocabSize;

        float[] whole = RunInChunks(model, tokens, tokens.Length);
        AssertClose(whole, RunInChunks(model, tokens, 5), "chunks of 5");
        AssertClose(whole, RunInChunks(model, tokens, 1), "token by token");

        // Interleaved with two other sequences in the same batches, two tokens of each per step.
        using var cache = model.CreateState(2 * tokens.Length + 2 * other.Length + 3 * BlockTokens, BlockTokens, sequences: 3);
        var main = cache.CreateSequence();
        var others = new[] { cache.CreateSequence(), cache.CreateSequence() };
        var mixed = new float[tokens.Length * vocab];
        var batch = new TokenBatch();
        for (int start = 0; start < tokens.Length; start += 2)
        {
            batch.Clear();
            int mainCount = Math.Min(2, tokens.Length - start);
            for (int s = 0; s < others.Length; s++)
            {
                for (int i = start; i < Math.Min(start + 2, other.Length); i++)
                    batch.Add(other[i], i, others[s], logits: true);
            }

            for (int i = 0; i < mainCount; i++)
                batch.Add(tokens[start + i], start + i, main, logits: true);
            var logits = new float[batch.OutputCount * vocab];
            model.Forward(batch, cache, logits);
            // The main sequence's rows are the last mainCount outputs.
            logits.AsSpan((batch.OutputCount - mainCount) * vocab, mainCount * vocab).CopyTo(mixed.AsSpan(start * vocab));
        }

        AssertClose(whole, mixed, "mixed with other sequences");
    }

    [Fact]
    public void A_truncated_sequence_recomputes_the_same_logits()
    {
        using var model = DecoderModel.Load(SharedData.Path("models/llama-tiny-q8_0.gguf"));
        int[] tokens = Tokenizer.FromGguf(model.File).Encode(Prompt);
        int vocab = model.Config.VocabSize;
        using var cache = model.CreateState(tokens.Length, blockTokens: 4);
        var sequence = cache.CreateSequence();
        var first = Run(model, cache, sequence, tokens, 0);

        int keep = 9;
        cache.Truncate(sequence, keep);
        Assert.Equal(keep, sequence.Length);
        Assert.Equal(3, sequence.Blocks.Count);
        var again = Run(model, cache, sequence, tokens[keep..], keep);
        AssertClose(first.AsSpan(keep * vocab).ToArray(), again, "after truncation");
    }

    /// <summary>
    /// Past 1,024 cached positions attention runs in split-K segments: a decode step spreads them over units and
    /// merges afterwards, a prompt may do them in turn. The last tokens' logits are the same bits either way, also
    /// on gemma3, whose sliding-window layers leave the first segments empty.
    /// </summary>
    [Theory]
    [InlineData("f16")]
    [InlineData("q8_0")]
    [InlineData("f16", "models/gemma3-tiny-q8_0.gguf")]
    public void Split_k_attention_gives_the_same_bits_split_or_in_turn_in_a_prompt_or_token_by_token(string kvType, string path = "models/llama-tiny-q8_0.gguf")
    {
        using var model = DecoderModel.Load(SharedData.Path(path));
        var type = KvCache.ParseType(kvType);
        int vocab = model.Config.VocabSize;
        var random = new Random(9);
        int[] tokens = Enumerable.Range(0, 2100).Select(_ => random.Next(vocab)).ToArray();
        const int tail = 6;

        float[] LastLogits(int prefill, long maxPartialFloats)
        {
            long saved = AttentionJob.MaxPartialFloats;
            AttentionJob.MaxPartialFloats = maxPartialFloats;
            try
            {
                using var cache = model.CreateState(tokens.Length, BlockTokens, type, type);
                var sequence = cache.CreateSequence();
                var result = new float[tail * vocab];
                var head = Run(model, cache, sequence, tokens[..prefill], 0);
                int fromHead = Math.Max(0, prefill - (tokens.Length - tail));
                head.AsSpan(head.Length - fromHead * vocab).CopyTo(result);
                for (int i = prefill; i < tokens.Length; i++)
                    Run(model, cache, sequence, [tokens[i]], i).CopyTo(result.AsSpan((i - (tokens.Length - tail)) * vocab));
                return result;
            }
            finally
            {
                AttentionJob.MaxPartialFloats = saved;
            }
        }

        var prompt = LastLogits(tokens.Length, long.MaxValue);       // one batch of 2,100, 3 segments split
        Assert.Equal(prompt, LastLogits(tokens.Length, 0));           // the same batch, segments in turn
        Assert.Equal(prompt, LastLogits(tokens.Length - tail, long.MaxValue)); // the last tokens decoded one at a time
    }

    private static float[] RunInChunks(DecoderModel model, int[] tokens, int chunk)
    {
        using var cache = model.CreateState(tokens.Length, BlockTokens);
        var sequence = cache.CreateSequence();
        int vocab = model.Config.VocabSize;
        var all = new float[tokens.Length * vocab];
        for (int start = 0; start < tokens.Length; start += chunk)
        {
            int n = Math.Min(chunk, tokens.Length - start);
            Run(model, cache, sequence, tokens.AsSpan(start, n).ToArray(), start).CopyTo(all.AsSpan(start * vocab));
        }

        return all;
    }

    private static float[] Run(DecoderModel model, StateCache cache, SequenceState sequence, int[] tokens, int start)
    {
        var batch = new TokenBatch();
        for (int i = 0; i < tokens.Length; i++)
            batch.Add(tokens[i], start + i, sequence, logits: true);
        var logits = new float[tokens.Length * model.Config.VocabSize];
        model.Forward(batch, cache, logits);
        return logits;
    }

    private static void AssertClose(float[] expected, float[] actual, string how)
    {
        Assert.Equal(expected.Length, actual.Length);
        float max = 0;
        int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (Math.Abs(expected[i] - actual[i]) > max)
                (max, at) = (Math.Abs(expected[i] - actual[i]), i);
        }
        how += $" at float {at} of {expected.Length}";
        Assert.True(max < 1e-3f, $"{how}: max abs difference {max}");
    }
}
