namespace Tern.Runtime.Serving;

/// <summary>The prompt leaves no room to generate in the context per sequence (OpenAI's <c>context_length_exceeded</c>, HTTP 400).</summary>
public sealed class ContextLengthExceededException(int promptTokens, int contextLength)
    : ArgumentException($"The prompt has {promptTokens} tokens, which leaves no room to generate in the context of {contextLength} tokens per sequence.", nameof(GenerationRequest.PromptTokens))
{
    public int PromptTokens { get; } = promptTokens;

    public int ContextLength { get; } = contextLength;
}

/// <summary>Every sequence is busy and the waiting queue is full (HTTP 429: retry later).</summary>
public sealed class QueueFullException(int parallel, int queueCapacity)
    : InvalidOperationException($"The engine is busy: {parallel} sequences are running and {queueCapacity} requests are waiting. Retry later.")
{
    public int Parallel { get; } = parallel;

    public int QueueCapacity { get; } = queueCapacity;
}
