using Tern.Runtime.Sampling;

namespace Tern.Runtime.Serving;

/// <summary>What a request's stream carries: <see cref="GenerationDelta"/>s, then one <see cref="GenerationFinished"/>.</summary>
public abstract record GenerationEvent;

/// <summary>
/// New text and the token(s) that produced it. Text is detokenized incrementally and passed through the stop
/// strings, so it can be empty (held back: an incomplete character, or text that may begin a stop string) and
/// can arrive with a later token. The last delta may carry no token: text released when generation ended.
/// </summary>
public sealed record GenerationDelta(string Text, IReadOnlyList<GeneratedToken> Tokens) : GenerationEvent;

/// <summary>The pooled hidden state of an embedding request's prompt (not normalised), sent before its finish.</summary>
public sealed record GenerationEmbedding(float[] Vector) : GenerationEvent;

/// <summary>A generated token with its log-probability (log-softmax of the logits after logit bias) and, when asked,
/// the most likely alternatives, best first.</summary>
public readonly record struct GeneratedToken(int Id, float Logprob, IReadOnlyList<TokenLogprob> TopLogprobs);

/// <summary>Why a request ended, as OpenAI's <c>finish_reason</c>.</summary>
public enum FinishReason
{
    /// <summary>End-of-generation token or a stop string.</summary>
    Stop,

    /// <summary>The token limit or the context per sequence was reached.</summary>
    Length,

    /// <summary>The request's cancellation token fired (or the engine shut down).</summary>
    Cancelled,
}

/// <summary>The last event of a request's stream.</summary>
/// <param name="StopReason">The detail behind <paramref name="Reason"/> (None when cancelled).</param>
/// <param name="StopString">The stop string that matched, if one did.</param>
/// <param name="Seed">The sampler's seed (the requested one or the one drawn); 0 if the request never started.</param>
public sealed record GenerationFinished(FinishReason Reason, StopReason StopReason, string? StopString, GenerationUsage Usage, GenerationTimings Timings, ulong Seed) : GenerationEvent;

/// <summary>Token counts, as OpenAI's <c>usage</c>.</summary>
/// <param name="CachedTokens">Prompt tokens whose keys and values came from the prefix cache instead of being computed.</param>
public readonly record struct GenerationUsage(int PromptTokens, int CachedTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>Where a request's time went (llama.cpp's <c>timings</c>).</summary>
/// <param name="Queued">From submission to getting a sequence slot.</param>
/// <param name="Prompt">From getting a slot until the prompt's logits were ready.</param>
/// <param name="Generation">From then until the end.</param>
/// <param name="PromptTokensProcessed">Prompt tokens run through the model (the prompt less its cached prefix).</param>
public sealed record GenerationTimings(TimeSpan Queued, TimeSpan Prompt, TimeSpan Generation, int PromptTokensProcessed, int GeneratedTokens)
{
    public double PromptMilliseconds => Prompt.TotalMilliseconds;

    public double GenerationMilliseconds => Generation.TotalMilliseconds;

    public double PromptTokensPerSecond => PromptTokensProcessed / Math.Max(Prompt.TotalSeconds, 1e-9);

    public double GenerationTokensPerSecond => GeneratedTokens / Math.Max(Generation.TotalSeconds, 1e-9);
}
