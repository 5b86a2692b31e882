using System.Numerics.Tensors;

namespace Tern.Runtime.Sampling;

/// <summary>
/// llama.cpp's default sampler chain for one sequence: logit bias → repeat/presence/frequency penalties →
/// top-k → top-p → min-p → temperature → draw with a seeded generator (greedy argmax at temperature 0).
/// Buffers are sized to the vocabulary once, so sampling does not allocate. Not thread-safe.
/// </summary>
public sealed class SamplerChain
{
    private readonly float[] _logits;
    private readonly Candidate[] _candidates;
    private readonly int[] _biasTokens;
    private readonly float[] _biasValues;
    private readonly int[]? _counts;
    private readonly int[]? _seen;
    private readonly SamplerRandom _random;
    private readonly float[] _scratch;

    /// <param name="buffers">Work arrays to use (the chain's own until it is dropped; no two live chains may share
    /// them); null = new ones.</param>
    public SamplerChain(SamplingParams parameters, int vocabSize, SamplerBuffers? buffers = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        parameters.Validate(vocabSize);
        Parameters = parameters;
        VocabSize = vocabSize;
        Seed = parameters.Seed ?? (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue);
        _random = new SamplerRandom(Seed);
        buffers ??= new SamplerBuffers(vocabSize);
        if (buffers.VocabSize != vocabSize)
            throw new ArgumentException($"the buffers are for {buffers.VocabSize} tokens, not {vocabSize}", nameof(buffers));
        _logits = buffers.Logits;
        _candidates = buffers.Candidates;
        _scratch = buffers.Scratch;

        // sorted by id, so the bias of the chosen token can be found again for its logprob
        _biasTokens = parameters.LogitBias.Keys.Order().ToArray();
        _biasValues = _biasTokens.Select(t => parameters.LogitBias[t]).ToArray();

        bool penalised = parameters.RepeatPenalty != 1 || parameters.PresencePenalty != 0 || parameters.FrequencyPenalty != 0;
        if (penalised && parameters.RepeatLastN != 0)
        {
            _counts = buffers.Counts;
            _seen = buffers.Seen;
        }
    }

    public SamplingParams Parameters { get; }

    public int VocabSize { get; }

    /// <summary>The generator's seed: the requested one, or the random one drawn when none was given.</summary>
    public ulong Seed { get; }

    /// <summary>
    /// Picks the next token from the model's <paramref name="logits"/> (one per vocabulary entry);
    /// <paramref name="history"/> is the sequence so far (prompt and generated tokens), of which the penalties
    /// look at the last <see cref="SamplingParams.RepeatLastN"/>. Logits holding NaN or +infinity throw
    /// <see cref="InvalidLogitsException"/>.
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        LoadAndBias(logits);
        ApplyPenalties(history);
        return Choose();
    }

    /// <summary>
    /// As <see cref="Sample(ReadOnlySpan{float}, ReadOnlySpan{int})"/>, and also reports the chosen token's
    /// log-probability and fills <paramref name="topLogprobs"/> with the most likely tokens, best first
    /// (both from the logits after logit bias, before penalties and filters).
    /// </summary>
    public SampleResult Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, Span<TokenLogprob> topLogprobs) =>
        Sample(logits, history, topLogprobs, null);

    /// <summary>
    /// As above, under a <paramref name="constraint"/> (a grammar): the drawn token is checked and, when refused, the
    /// tokens the constraint refuses are masked out and the draw repeats (llama.cpp's order: the full mask is paid
    /// only on a refusal). Logprobs stay the model's own, before the constraint.
    /// </summary>
    public SampleResult Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, Span<TokenLogprob> topLogprobs, ITokenConstraint? constraint)
    {
        LoadAndBias(logits);
        float logNorm = LogSumExp(_logits);
        int top = 0;
        if (!topLogprobs.IsEmpty)
        {
            top = Math.Min(SamplerSteps.TopK(_logits, topLogprobs.Length, _candidates), topLogprobs.Length);
            var best = _candidates.AsSpan(0, top);
            Candidate.Sort(best);
            for (int i = 0; i < top; i++)
                topLogprobs[i] = new TokenLogprob(best[i].Id, best[i].Logit - logNorm);
        }
        ApplyPenalties(history);
        int token = Choose();
        if (constraint is not null && !constraint.Allows(token))
        {
            constraint.Restrict(_logits);
            token = Choose();
        }

        return new SampleResult(token, logits[token] + BiasOf(token) - logNorm, top);
    }

    private void LoadAndBias(ReadOnlySpan<float> logits)
    {
        if (logits.Length != VocabSize)
            throw new ArgumentException($"Expected {VocabSize} logits, got {logits.Length}.", nameof(logits));
        InvalidLogitsException.ThrowIfInvalid(logits);
        logits.CopyTo(_logits);
        SamplerSteps.ApplyLogitBias(_logits, _biasTokens, _biasValues);
    }

    private void ApplyPenalties(ReadOnlySpan<int> history)
    {
        if (_counts is null || _seen is null)
            return;
        int lastN = Parameters.RepeatLastN;
        var window = lastN < 0 || lastN >= history.Length ? history : history[^lastN..];
        SamplerSteps.ApplyPenalties(_logits, window, Parameters.RepeatPenalty, Parameters.PresencePenalty, Parameters.FrequencyPenalty, _counts, _seen);
    }

    private int Choose()
    {
        if (Parameters.IsGreedy)
        {
            int argmax = SamplerSteps.Argmax(_logits);
            return argmax >= 0 ? argmax : throw NothingToSample();
        }
        int n = SamplerSteps.Filter(_logits, Parameters, _candidates, _scratch);
        if (n == 0)
            throw NothingToSample();
        return SamplerSteps.Draw(_candidates.AsSpan(0, n), Parameters.Temperature, _random.NextDouble(), _scratch);
    }

    private float LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = TensorPrimitives.Max(logits);
        if (!float.IsFinite(max))
            throw NothingToSample();
        return max + (float)Math.Log(SamplerSteps.SumExp(logits, max, _scratch));
    }

    private float BiasOf(int token)
    {
        int i = Array.BinarySearch(_biasTokens, token);
        return i >= 0 ? _biasValues[i] : 0;
    }

    private static InvalidOperationException NothingToSample() =>
        new("No token can be sampled: every logit is negative infinity (banned).");
}
