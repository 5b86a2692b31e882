using Tern.Gguf;

namespace Tern.Models;

/// <summary>The shape of a decoder-only transformer, read from <c>&lt;arch&gt;.*</c> GGUF metadata.</summary>
public sealed record Hyperparameters
{
    public required string Architecture { get; init; }
    public required int ContextLength { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }
    public required int HeadDim { get; init; }
    public required int RopeDimensionCount { get; init; }
    public required float RopeFreqBase { get; init; }
    public required float RmsEpsilon { get; init; }
    public required int VocabSize { get; init; }
    public int ExpertCount { get; init; }
    public int ExpertUsedCount { get; init; }

    /// <summary>Width of one token's keys (or values) across all KV heads.</summary>
    public int KvDim => HeadCountKv * HeadDim;

    /// <summary>Width of one token's queries across all heads.</summary>
    public int QDim => HeadCount * HeadDim;

    public static Hyperparameters FromGguf(GgufFile file)
    {
        string arch = file.GetString("general.architecture")
            ?? throw new ModelLoadException(file.Path, "general.architecture is missing");
        int Required(string key) => Int(key) ?? throw new ModelLoadException(file.Path, $"{arch}.{key} is missing");
        int? Int(string key)
        {
            long? v = file.GetInteger($"{arch}.{key}");
            if (v is < 0 or > int.MaxValue)
                throw new ModelLoadException(file.Path, $"{arch}.{key} = {v} is out of range");
            return (int?)v;
        }

        int embd = Required("embedding_length");
        int heads = Required("attention.head_count");
        if (heads <= 0 || embd <= 0 || embd % heads != 0)
            throw new ModelLoadException(file.Path, $"{arch}.embedding_length {embd} is not a multiple of {arch}.attention.head_count {heads}");
        int headDim = Int("attention.key_length") ?? embd / heads;
        int kvHeads = Int("attention.head_count_kv") ?? heads;
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new ModelLoadException(file.Path, $"{arch}.attention.head_count {heads} is not a multiple of head_count_kv {kvHeads}");
        int vocab = file.TryGetTensor("token_embd.weight", out var embedding) && embedding.Dimensions.Length == 2
            ? checked((int)embedding.Dimensions[1])
            : Int("vocab_size") ?? throw new ModelLoadException(file.Path, "token_embd.weight is missing");

        var h = new Hyperparameters
        {
            Architecture = arch,
            ContextLength = Int("context_length") ?? 2048,
            EmbeddingLength = embd,
            BlockCount = Required("block_count"),
            FeedForwardLength = Required("feed_forward_length"),
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            RopeDimensionCount = Int("rope.dimension_count") ?? headDim,
            RopeFreqBase = (float)(file.GetFloat($"{arch}.rope.freq_base") ?? 10000.0),
            RmsEpsilon = (float)(file.GetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5),
            VocabSize = vocab,
            ExpertCount = Int("expert_count") ?? 0,
            ExpertUsedCount = Int("expert_used_count") ?? 0,
        };
        if (h.RopeDimensionCount > headDim || h.RopeDimensionCount % 2 != 0)
            throw new ModelLoadException(file.Path, $"{arch}.rope.dimension_count {h.RopeDimensionCount} must be even and at most the head size {headDim}");
        if (h.ExpertCount > 0 && (h.ExpertUsedCount <= 0 || h.ExpertUsedCount > h.ExpertCount))
            throw new ModelLoadException(file.Path, $"{arch}.expert_used_count {h.ExpertUsedCount} must be between 1 and expert_count {h.ExpertCount}");
        return h;
    }
}
