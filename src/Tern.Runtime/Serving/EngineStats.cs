namespace Tern.Runtime.Serving;

/// <summary>A consistent snapshot of an <see cref="InferenceEngine"/>'s counters, gauges and slots.</summary>
public sealed record EngineStats
{
    // Counters since the engine started.
    public long RequestsTotal { get; init; }
    public long RequestsFinished { get; init; }
    public long RequestsCancelled { get; init; }
    public long RequestsFailed { get; init; }
    public long RequestsRejected { get; init; }

    /// <summary>Prompt tokens run through the model (cached prefixes excluded).</summary>
    public long PromptTokensProcessed { get; init; }

    /// <summary>Prompt tokens taken from the prefix cache instead.</summary>
    public long CachedPromptTokens { get; init; }

    public long GeneratedTokens { get; init; }

    /// <summary>Requests that started with at least one cached token.</summary>
    public long PrefixCacheHits { get; init; }

    /// <summary>Cached blocks dropped to make room.</summary>
    public long PrefixCacheEvictions { get; init; }

    /// <summary>The disk tier of the prefix cache (--cache-dir); null when there is none.</summary>
    public DiskCacheStats? DiskCache { get; init; }

    /// <summary>Prompt tokens whose blocks were read from the disk tier (part of <see cref="CachedPromptTokens"/>).</summary>
    public long DiskCacheHitTokens { get; init; }

    /// <summary>Forward passes run.</summary>
    public long Steps { get; init; }

    // Gauges.
    public int QueueDepth { get; init; }
    public int ActiveSequences { get; init; }

    /// <summary>Blocks taken from the pool (by sequences, the prefix cache or both).</summary>
    public int KvBlocksUsed { get; init; }

    /// <summary>Blocks only the prefix cache holds: reusable, and evicted first when the pool runs short.</summary>
    public int KvBlocksCachedOnly { get; init; }

    public int KvBlocksTotal { get; init; }
    public int KvBlockTokens { get; init; }

    /// <summary>Bytes of one block in every KV group.</summary>
    public long KvBlockBytes { get; init; }

    /// <summary>Recurrent-state slots running sequences hold (models with recurrent layers; 0 otherwise).</summary>
    public int RecurrentSlotsUsed { get; init; }

    /// <summary>Recurrent-state slots reserved: one per sequence slot plus the prefix cache's checkpoints.</summary>
    public int RecurrentSlotsTotal { get; init; }

    /// <summary>Bytes of one sequence's recurrent state.</summary>
    public long RecurrentSlotBytes { get; init; }

    /// <summary>
    /// The share of the state memory requests hold, 0–1 (vLLM's kv_cache_usage_perc): KV blocks held by sequences
    /// plus the recurrent slots they hold, in bytes, over all KV blocks and recurrent slots. Blocks and checkpoints
    /// only the prefix cache holds are free for the taking, so an idle engine is at 0.
    /// </summary>
    public double CacheUsage
    {
        get
        {
            double used = (double)(KvBlocksUsed - KvBlocksCachedOnly) * KvBlockBytes + (double)RecurrentSlotsUsed * RecurrentSlotBytes;
            double total = (double)KvBlocksTotal * KvBlockBytes + (double)RecurrentSlotsTotal * RecurrentSlotBytes;
            return total == 0 ? 0 : used / total;
        }
    }

    /// <summary>One entry per sequence slot (Parallel of them), idle ones included.</summary>
    public IReadOnlyList<SlotSnapshot> Slots { get; init; } = [];
}

public enum SlotState
{
    Idle,

    /// <summary>Running the prompt through the model (possibly over several steps).</summary>
    Prefilling,

    Decoding,
}

/// <summary>One sequence slot (llama.cpp's <c>/slots</c>).</summary>
public sealed record SlotSnapshot(int Id, SlotState State, string? RequestId, int PromptTokens, int CachedTokens, int PromptTokensProcessed, int GeneratedTokens);
