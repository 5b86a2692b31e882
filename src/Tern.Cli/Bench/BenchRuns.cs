using System.Diagnostics;
using Tern.Models;

namespace Tern.Cli.Bench;

/// <summary>The measured work of `tern bench`: filling the depth once, then timed pp and tg runs forked from it.</summary>
internal static class BenchRuns
{
    /// <summary>Tokens per forward pass while filling the depth (llama-bench's default batch).</summary>
    internal const int FillBatch = 512;

    /// <summary>Seed of the depth's random tokens, so a test can replay them as one prompt.</summary>
    internal const int FillSeed = 7;

    /// <summary>A sequence holding <paramref name="depth"/> random tokens, run in batches of <see cref="FillBatch"/>;
    /// stops early (shorter sequence) when cancelled.</summary>
    internal static SequenceState Fill(IModelRunner m, StateCache cache, int depth, CancellationToken cancel = default)
    {
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        var logits = new float[m.Config.VocabSize];
        int[] tokens = RandomTokens(m, depth, FillSeed);
        for (int start = 0; start < depth && !cancel.IsCancellationRequested; start += FillBatch)
        {
            batch.Clear();
            batch.AddRange(tokens.AsSpan(start, Math.Min(FillBatch, depth - start)), start, sequence);
            m.Forward(batch, cache, logits);
        }

        return sequence;
    }

    /// <summary>Tokens/s of one pp run: p random tokens as one batch after the filled depth.</summary>
    internal static double Prompt(IModelRunner m, StateCache cache, SequenceState filled, int p)
    {
        var sequence = cache.Fork(filled, filled.Length);
        try
        {
            var batch = new TokenBatch();
            batch.AddRange(RandomTokens(m, p, seed: 42), filled.Length, sequence);
            var logits = new float[m.Config.VocabSize];
            var clock = Stopwatch.StartNew();
            m.Forward(batch, cache, logits);
            return p / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            cache.Free(sequence);
        }
    }

    /// <summary>Aggregate tokens/s of one tg run: <paramref name="np"/> sequences after the filled depth, each
    /// generating n tokens, all of them in one forward pass per step.</summary>
    internal static double Generate(IModelRunner m, StateCache cache, SequenceState filled, int n, int np)
    {
        var sequences = Enumerable.Range(0, np).Select(_ => cache.Fork(filled, filled.Length)).ToArray();
        try
        {
            var batch = new TokenBatch();
            var logits = new float[np * m.Config.VocabSize];
            int[] tokens = RandomTokens(m, n * np, seed: 42);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < n; i++)
            {
                batch.Clear();
                for (int s = 0; s < np; s++)
                    batch.Add(tokens[i * np + s], filled.Length + i, sequences[s], logits: true);
                m.Forward(batch, cache, logits);
            }

            return n * np / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var sequence in sequences)
                cache.Free(sequence);
        }
    }

    internal static int[] RandomTokens(IModelRunner m, int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(m.Config.VocabSize)).ToArray();
    }
}
