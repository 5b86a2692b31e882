namespace Tern.Runtime.Sampling;

/// <summary>
/// How to pick the next token, with llama.cpp's defaults. The temperature default is llama.cpp's too;
/// <see cref="DefaultSampling.For"/> gives the per-family default a model should start from.
/// </summary>
public sealed record SamplingParams
{
    /// <summary>Temperatures below this are treated as 0: greedy argmax.</summary>
    public const float GreedyTemperature = 1e-6f;

    /// <summary>Softmax temperature; 0 means greedy (argmax after logit bias and penalties).</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the K most likely tokens; 0 = off.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set of most likely tokens whose probability reaches P; 1 = off.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens less likely than MinP times the most likely one; 0 = off.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Divides positive (multiplies negative) logits of tokens seen in the window; 1 = off.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>How many of the latest tokens the penalties look at; -1 = the whole history, 0 = none.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>Subtracted once from the logit of every token seen in the window.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>Subtracted from a token's logit once per occurrence in the window.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Added to the raw logits by token id; negative infinity bans a token.</summary>
    public IReadOnlyDictionary<int, float> LogitBias { get; init; } = EmptyBias;

    /// <summary>Seed of the sampler's random generator; null = a fresh random seed.</summary>
    public ulong? Seed { get; init; }

    public bool IsGreedy => Temperature < GreedyTemperature;

    private static readonly IReadOnlyDictionary<int, float> EmptyBias = new Dictionary<int, float>();

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> or <see cref="ArgumentException"/>, naming the
    /// parameter, for any value the sampler cannot use. Logit bias ids are range-checked when the vocabulary
    /// size is given.
    /// </summary>
    public void Validate(int? vocabSize = null)
    {
        if (!float.IsFinite(Temperature) || Temperature < 0)
            throw OutOfRange(nameof(Temperature), Temperature, "must be a finite number >= 0");
        if (TopK < 0)
            throw OutOfRange(nameof(TopK), TopK, "must be >= 0 (0 = off)");
        if (!(TopP > 0 && TopP <= 1)) // also rejects NaN
            throw OutOfRange(nameof(TopP), TopP, "must be in (0, 1] (1 = off)");
        if (!(MinP >= 0 && MinP <= 1))
            throw OutOfRange(nameof(MinP), MinP, "must be in [0, 1] (0 = off)");
        if (!float.IsFinite(RepeatPenalty) || RepeatPenalty <= 0)
            throw OutOfRange(nameof(RepeatPenalty), RepeatPenalty, "must be a finite number > 0 (1 = off)");
        if (RepeatLastN < -1)
            throw OutOfRange(nameof(RepeatLastN), RepeatLastN, "must be >= -1 (-1 = whole history)");
        if (!float.IsFinite(PresencePenalty))
            throw OutOfRange(nameof(PresencePenalty), PresencePenalty, "must be a finite number");
        if (!float.IsFinite(FrequencyPenalty))
            throw OutOfRange(nameof(FrequencyPenalty), FrequencyPenalty, "must be a finite number");
        ValidateLogitBias(vocabSize);
    }

    private void ValidateLogitBias(int? vocabSize)
    {
        if (LogitBias is null)
            throw new ArgumentNullException(nameof(LogitBias));
        foreach (var (token, bias) in LogitBias)
        {
            if (token < 0 || token >= vocabSize)
                throw new ArgumentOutOfRangeException(nameof(LogitBias), token, $"{nameof(LogitBias)}: token id {token} is outside the vocabulary");
            // -inf bans a token; +inf or NaN would turn the softmax into NaN
            if (float.IsNaN(bias) || float.IsPositiveInfinity(bias))
                throw new ArgumentException($"{nameof(LogitBias)}: bias {bias} for token {token} must be finite or negative infinity", nameof(LogitBias));
        }
    }

    private static ArgumentOutOfRangeException OutOfRange(string name, object value, string rule) =>
        new(name, value, $"{name} {rule}.");
}
