namespace Tern.Runtime.Sampling;

/// <summary>The token-level stop checks: an end-of-generation token, or the token limit.</summary>
public sealed class StopCondition
{
    private readonly Func<int, bool> _isEndOfGeneration;

    /// <param name="maxTokens">How many tokens may be generated; null = no limit.</param>
    /// <param name="isEndOfGeneration">Whether a token ends generation (e.g. <c>Tokenizer.IsEndOfGeneration</c>).</param>
    public StopCondition(int? maxTokens, Func<int, bool> isEndOfGeneration)
    {
        ArgumentNullException.ThrowIfNull(isEndOfGeneration);
        if (maxTokens is { } max)
            ArgumentOutOfRangeException.ThrowIfNegative(max, nameof(maxTokens));
        MaxTokens = maxTokens;
        _isEndOfGeneration = isEndOfGeneration;
    }

    public StopCondition(int? maxTokens, IReadOnlySet<int> endOfGenerationTokens)
        : this(maxTokens, (endOfGenerationTokens ?? throw new ArgumentNullException(nameof(endOfGenerationTokens))).Contains)
    {
    }

    public int? MaxTokens { get; }

    /// <summary>
    /// Checks a freshly sampled <paramref name="token"/>; <paramref name="generatedCount"/> counts the tokens
    /// generated so far including it. An end-of-generation token wins over the limit.
    /// </summary>
    public StopReason Check(int token, int generatedCount)
    {
        if (_isEndOfGeneration(token))
            return StopReason.EndOfGeneration;
        return generatedCount >= MaxTokens ? StopReason.Length : StopReason.None;
    }
}
