namespace Tern.Tokenizers;

/// <summary>
/// The tokenizer metadata of a model is missing, malformed or unsupported. <see cref="MetadataKey"/> names the
/// GGUF key at fault (for example <c>tokenizer.ggml.scores</c>) when there is one.
/// </summary>
public sealed class TokenizerException : Exception
{
    public TokenizerException(string? metadataKey, string problem)
        : base(metadataKey is null ? problem : $"{metadataKey}: {problem}")
    {
        MetadataKey = metadataKey;
        Problem = problem;
    }

    public string? MetadataKey { get; }

    public string Problem { get; }
}
