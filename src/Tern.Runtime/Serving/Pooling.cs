namespace Tern.Runtime.Serving;

/// <summary>
/// How an embedding request turns its tokens' hidden states into one vector: GGUF's <c>pooling_type</c> values
/// (1 mean, 2 CLS, 3 last), as llama.cpp pools.
/// </summary>
public enum Pooling
{
    /// <summary>The mean over every prompt token.</summary>
    Mean = 1,

    /// <summary>The first token's (the BOS or CLS token).</summary>
    Cls = 2,

    /// <summary>The last token's (Qwen3-Embedding and other decoder-only embedding models).</summary>
    Last = 3,
}
