using Tern.Gguf;

namespace Tern.Runtime.Serving;

/// <summary>How an <see cref="InferenceEngine"/> shares one model among concurrent requests.</summary>
public sealed record EngineOptions
{
    /// <summary>The context per sequence when none is given and the model allows more.</summary>
    public const int DefaultMaxContext = 4096;

    /// <summary>Most sequences generating together (llama.cpp's <c>-np</c>); more requests wait in the queue.</summary>
    public int Parallel { get; init; } = 4;

    /// <summary>Positions (prompt and generated tokens) each sequence may hold; null = min(model context, 4096).</summary>
    public int? ContextPerSequence { get; init; }

    /// <summary>Tokens per KV block: the unit of allocation and of prefix reuse.</summary>
    public int KvBlockTokens { get; init; } = 32;

    /// <summary>Element types of cached keys and values: F16, Q8_0 or Q4_0 (llama.cpp's -ctk/-ctv).</summary>
    public GgmlType KeyType { get; init; } = GgmlType.F16;
    public GgmlType ValueType { get; init; } = GgmlType.F16;

    /// <summary>Most tokens in one forward pass: every decoding sequence's next token, then prompt chunks.</summary>
    public int StepTokenBudget { get; init; } = 512;

    /// <summary>Most requests waiting for a free sequence; one more is refused with <see cref="QueueFullException"/>.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>Keep full KV blocks after their sequence ends so later prompts with the same prefix skip them.</summary>
    public bool PrefixCache { get; init; } = true;

    /// <summary>
    /// KV room beyond Parallel × ContextPerSequence where cached prefixes survive while every sequence is full;
    /// null = one more ContextPerSequence with the prefix cache on, none with it off.
    /// </summary>
    public int? PrefixCacheTokens { get; init; }

    /// <summary>
    /// For models with recurrent layers (qwen35moe), whose state cannot be cut back to a shorter prefix: how many
    /// copies of that state the prefix cache keeps (each the size of one sequence's recurrent state), so a prompt that
    /// shares a prefix resumes from the nearest one instead of processing the whole prompt again.
    /// </summary>
    public int RecurrentCheckpoints { get; init; } = 8;

    /// <summary>Prompt positions between two checkpoints of a recurrent model's state (a multiple of
    /// <see cref="KvBlockTokens"/>); one is also taken at the prompt's last block boundary and at each block boundary
    /// while decoding (that one replaces the sequence's previous decoding checkpoint).</summary>
    public int CheckpointEvery { get; init; } = 1024;

    /// <summary>
    /// A disk tier for the prefix cache (--cache-dir): full blocks are written there in the background and found again
    /// after a restart; null: RAM only. Needs <see cref="PrefixCache"/>; models with recurrent layers do not use it.
    /// </summary>
    public DiskCacheOptions? DiskCache { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        if (Parallel < 1)
            throw new ArgumentOutOfRangeException(nameof(Parallel), Parallel, $"{nameof(Parallel)} must be >= 1.");
        if (ContextPerSequence is < 2)
            throw new ArgumentOutOfRangeException(nameof(ContextPerSequence), ContextPerSequence, $"{nameof(ContextPerSequence)} must be >= 2.");
        if (KvBlockTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(KvBlockTokens), KvBlockTokens, $"{nameof(KvBlockTokens)} must be >= 1.");
        if (StepTokenBudget < Parallel)
            throw new ArgumentOutOfRangeException(nameof(StepTokenBudget), StepTokenBudget, $"{nameof(StepTokenBudget)} must be >= {nameof(Parallel)} ({Parallel}) so every sequence can decode each step.");
        if (QueueCapacity < 0)
            throw new ArgumentOutOfRangeException(nameof(QueueCapacity), QueueCapacity, $"{nameof(QueueCapacity)} must be >= 0.");
        if (RecurrentCheckpoints < 0)
            throw new ArgumentOutOfRangeException(nameof(RecurrentCheckpoints), RecurrentCheckpoints, $"{nameof(RecurrentCheckpoints)} must be >= 0.");
        if (CheckpointEvery < KvBlockTokens || CheckpointEvery % KvBlockTokens != 0)
            throw new ArgumentOutOfRangeException(nameof(CheckpointEvery), CheckpointEvery, $"{nameof(CheckpointEvery)} must be a multiple of {nameof(KvBlockTokens)} ({KvBlockTokens}).");
        if (DiskCache is { MaxBytes: <= 0 })
            throw new ArgumentOutOfRangeException(nameof(DiskCache), DiskCache.MaxBytes, $"{nameof(DiskCache)}.{nameof(DiskCacheOptions.MaxBytes)} must be > 0.");
        if (PrefixCacheTokens is < 0)
            throw new ArgumentOutOfRangeException(nameof(PrefixCacheTokens), PrefixCacheTokens, $"{nameof(PrefixCacheTokens)} must be >= 0.");
    }
}
