using System.Numerics.Tensors;

namespace Tern.Runtime.Sampling;

/// <summary>
/// The steps of the sampler chain as allocation-free functions over spans, in llama.cpp's order: logit bias,
/// penalties, then the candidate filters (top-k, top-p, min-p; in SamplerSteps.Filters.cs), temperature and
/// the draw. Candidate lists are unsorted unless a step says otherwise.
/// </summary>
internal static partial class SamplerSteps
{
    public static void ApplyLogitBias(Span<float> logits, ReadOnlySpan<int> tokens, ReadOnlySpan<float> biases)
    {
        for (int i = 0; i < tokens.Length; i++)
            logits[tokens[i]] += biases[i];
    }

    /// <summary>
    /// llama.cpp's penalties for every token in <paramref name="window"/>: the repeat penalty divides a positive
    /// logit and multiplies a negative one (both make the token less likely), then presence is subtracted once
    /// and frequency once per occurrence. <paramref name="counts"/> (vocabulary-sized, all zero) and
    /// <paramref name="seen"/> (at least as long as the window or the vocabulary) are scratch; counts is left zeroed.
    /// </summary>
    public static void ApplyPenalties(Span<float> logits, ReadOnlySpan<int> window, float repeat, float presence, float frequency,
        Span<int> counts, Span<int> seen)
    {
        foreach (int token in window)
        {
            if ((uint)token >= (uint)logits.Length)
                throw new ArgumentOutOfRangeException(nameof(window), token, "A history token id is outside the vocabulary.");
        }
        int distinct = 0;
        foreach (int token in window)
        {
            if (counts[token]++ == 0)
                seen[distinct++] = token;
        }
        foreach (int token in seen[..distinct])
        {
            float logit = logits[token];
            logit = logit <= 0 ? logit * repeat : logit / repeat;
            logits[token] = logit - (counts[token] * frequency + presence);
            counts[token] = 0;
        }
    }

    /// <summary>The id of the largest logit, the lowest id on ties; -1 when every logit is negative infinity.</summary>
    public static int Argmax(ReadOnlySpan<float> logits)
    {
        int best = -1;
        float bestLogit = float.NegativeInfinity;
        for (int id = 0; id < logits.Length; id++)
        {
            if (logits[id] > bestLogit)
            {
                bestLogit = logits[id];
                best = id;
            }
        }
        return best;
    }

    /// <summary>Σ exp(logit - max) over a whole logit vector, vectorised through <paramref name="scratch"/>.</summary>
    public static double SumExp(ReadOnlySpan<float> logits, float maxLogit, Span<float> scratch)
    {
        var exps = scratch[..logits.Length];
        TensorPrimitives.Subtract(logits, maxLogit, exps);
        TensorPrimitives.Exp(exps, exps);
        return TensorPrimitives.Sum(exps);
    }

    /// <summary>
    /// Draws from softmax(logit / temperature) over the candidates, in their order, with
    /// <paramref name="uniform"/> in [0, 1). <paramref name="scratch"/> holds the weights.
    /// </summary>
    public static int Draw(ReadOnlySpan<Candidate> candidates, float temperature, double uniform, Span<float> scratch)
    {
        var weights = scratch[..candidates.Length];
        for (int i = 0; i < candidates.Length; i++)
            weights[i] = candidates[i].Logit;
        TensorPrimitives.Subtract(weights, TensorPrimitives.Max(weights), weights);
        TensorPrimitives.Divide(weights, temperature, weights);
        TensorPrimitives.Exp(weights, weights);
        double sum = 0;
        foreach (float w in weights)
            sum += w;
        double target = uniform * sum;
        double cumulative = 0;
        int lastLikely = candidates[0].Id;
        for (int i = 0; i < candidates.Length; i++)
        {
            cumulative += weights[i];
            if (weights[i] > 0)
                lastLikely = candidates[i].Id;
            if (target < cumulative)
                return candidates[i].Id;
        }
        return lastLikely; // uniform * sum rounded up to sum
    }
}
