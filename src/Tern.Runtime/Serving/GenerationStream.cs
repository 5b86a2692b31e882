using System.Text;
using System.Threading.Channels;

namespace Tern.Runtime.Serving;

/// <summary>
/// The events of one submitted request, as they are produced: <see cref="GenerationDelta"/>s, then one
/// <see cref="GenerationFinished"/>. If the engine fails the request, reading throws the error instead.
/// The token given to <see cref="GetAsyncEnumerator"/> only stops reading; cancelling the request is done with
/// the token given to <see cref="InferenceEngine.Submit"/>.
/// </summary>
public sealed class GenerationStream : IAsyncEnumerable<GenerationEvent>
{
    internal GenerationStream(string id, int promptTokens, ChannelReader<GenerationEvent> events)
    {
        Id = id;
        PromptTokens = promptTokens;
        Events = events;
    }

    public string Id { get; }

    public int PromptTokens { get; }

    public ChannelReader<GenerationEvent> Events { get; }

    public IAsyncEnumerator<GenerationEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        Events.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    /// <summary>Reads every event and returns the whole text, the tokens and the final event (for non-streaming replies).</summary>
    public Task<GenerationResponse> ReadToEndAsync(CancellationToken cancellationToken = default) => ReadToEndAsync(this, Id, cancellationToken);

    /// <summary>Reads a request's events (this stream's, possibly passed through a filter) to the end.</summary>
    public static async Task<GenerationResponse> ReadToEndAsync(IAsyncEnumerable<GenerationEvent> events, string id, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        var tokens = new List<GeneratedToken>();
        await foreach (var e in events.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            switch (e)
            {
                case GenerationDelta delta:
                    text.Append(delta.Text);
                    tokens.AddRange(delta.Tokens);
                    break;
                case GenerationFinished finished:
                    return new GenerationResponse(text.ToString(), tokens, finished);
            }
        }

        throw new InvalidOperationException($"The stream of request {id} ended without a finish event.");
    }

    /// <summary>Reads an embedding request's vector and final event; null vector when it was cancelled first.</summary>
    public async Task<EmbeddingResponse> ReadEmbeddingAsync(CancellationToken cancellationToken = default)
    {
        float[]? vector = null;
        await foreach (var e in this.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            switch (e)
            {
                case GenerationEmbedding embedding:
                    vector = embedding.Vector;
                    break;
                case GenerationFinished finished:
                    return new EmbeddingResponse(vector ?? throw new OperationCanceledException($"request {Id} ended ({finished.Reason}) before its embedding"), finished);
            }
        }

        throw new InvalidOperationException($"The stream of request {Id} ended without a finish event.");
    }
}

/// <summary>An embedding request's pooled vector and its final event.</summary>
public sealed record EmbeddingResponse(float[] Vector, GenerationFinished Finished);

/// <summary>A whole generation: the text, every generated token and the final event.</summary>
public sealed record GenerationResponse(string Text, IReadOnlyList<GeneratedToken> Tokens, GenerationFinished Finished);
