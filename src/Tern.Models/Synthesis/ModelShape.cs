using System.Diagnostics.CodeAnalysis;

namespace Tern.Models.Synthesis;

/// <summary>Which tokenizer a synthetic model carries: SentencePiece (llama, bitnet) or byte-level BPE (qwen2, qwen3).</summary>
public enum SyntheticVocabularyKind
{
    SentencePiece,
    ByteLevelBpe,
}

/// <summary>
/// The hyperparameters of a real model, enough to write a GGUF file of the same shape with random weights.
/// Head dimension is <see cref="EmbeddingLength"/> / <see cref="HeadCount"/> unless <see cref="KeyLength"/> sets it.
/// </summary>
public sealed record ModelShape(
    string Name,
    string Architecture,
    int EmbeddingLength,
    int BlockCount,
    int HeadCount,
    int HeadCountKv,
    int FeedForwardLength,
    int VocabSize,
    int ContextLength,
    float RopeFreqBase,
    float RmsEpsilon,
    SyntheticVocabularyKind Vocabulary,
    string DefaultType)
{
    /// <summary>No output.weight: the logits reuse token_embd.weight.</summary>
    public bool TiedOutput { get; init; }

    /// <summary>attn_q/k/v biases (qwen2).</summary>
    public bool QkvBias { get; init; }

    /// <summary>attn_sub_norm [n_embd] and ffn_sub_norm [n_ff] per layer (bitnet).</summary>
    public bool SubNorms { get; init; }

    /// <summary>Ternary weights (±s or 0) in the big matrices, as a BitNet b1.58 model has.</summary>
    public bool TernaryWeights { get; init; }

    /// <summary>attn_q_norm and attn_k_norm [head_dim] per layer (qwen3, qwen3moe).</summary>
    public bool QkNorm { get; init; }

    /// <summary>A head size of its own (attention.key_length and value_length), not n_embd / n_head (qwen3).</summary>
    public int? KeyLength { get; init; }

    /// <summary>Experts per layer in place of the dense FFN; 0 = dense (qwen3moe: softmax, top-k, renormalise).</summary>
    public int ExpertCount { get; init; }

    public int ExpertUsedCount { get; init; }

    /// <summary>Each expert's FFN width (expert_feed_forward_length).</summary>
    public int ExpertFeedForwardLength { get; init; }

    /// <summary>A shared expert of this width beside the routed ones, gated by sigmoid(ffn_gate_inp_shexp · x) (qwen35moe).</summary>
    public int SharedExpertFeedForwardLength { get; init; }

    /// <summary>Rotated dimensions per head when fewer than the head size (partial RoPE).</summary>
    public int? RopeDimensions { get; init; }

    /// <summary>Gated DeltaNet layers between the attention layers (qwen35moe): every this-many-th layer attends.</summary>
    public DeltaNetShape? DeltaNet { get; init; }

    /// <summary>Sliding-window layers with their own KV heads, head size and RoPE base between global ones (gemma4);
    /// the global layers use the shape's KV heads and head size, a dense FFN beside their experts in every layer.</summary>
    public SlidingShape? Sliding { get; init; }

    public int HeadDim => KeyLength ?? EmbeddingLength / HeadCount;

    public int RopeDims => RopeDimensions ?? HeadDim;

    /// <summary>Whether a layer is one of <see cref="Sliding"/>'s.</summary>
    public bool IsSliding(int layer) => Sliding is { } s && layer % s.Period < s.Period - 1;

    /// <summary>The configuration a file of this shape loads as: what <see cref="TensorTable"/> lists the tensors of.</summary>
    public ModelConfig Config()
    {
        var rope = new RopeSpec(RopeDims, RopeFreqBase, Sliding?.FreqFactors(HeadDim));
        var ffn = ExpertCount == 0 ? FeedForwardKind.Dense : Sliding is null ? FeedForwardKind.Experts : FeedForwardKind.DenseAndExperts;
        MixerSpec Mixer(int i) => (DeltaNet, Sliding) switch
        {
            ({ } d, _) when d.IsRecurrent(i) => new DeltaNetSpec(d.ConvKernel, d.GroupCount, d.TimeStepRank, d.StateSize, d.InnerSize / d.TimeStepRank),
            (_, { } w) when IsSliding(i) => new AttentionSpec(HeadCount, w.KvHeads, w.HeadDim, new RopeSpec(w.HeadDim, w.RopeBase), w.Window),
            _ => new AttentionSpec(HeadCount, HeadCountKv, HeadDim, rope, Window: 0),
        };
        var layers = Enumerable.Range(0, BlockCount).Select(i => new LayerSpec(i, Mixer(i), ffn)).ToArray();
        return new ModelConfig
        {
            Architecture = Architecture,
            ContextLength = ContextLength,
            EmbeddingLength = EmbeddingLength,
            BlockCount = BlockCount,
            FeedForwardLength = FeedForwardLength,
            HeadCount = HeadCount,
            HeadCountKv = HeadCountKv,
            HeadDim = HeadDim,
            RopeDimensionCount = RopeDims,
            RopeFreqBase = RopeFreqBase,
            RmsEpsilon = RmsEpsilon,
            VocabSize = VocabSize,
            ExpertCount = ExpertCount,
            ExpertUsedCount = ExpertUsedCount,
            ExpertFeedForwardLength = ExpertFeedForwardLength,
            SharedExpertFeedForwardLength = SharedExpertFeedForwardLength,
            Layers = layers,
        };
    }
}

/// <summary>
/// gemma4's sliding-window layers: window, every how many layers one is global, their KV heads, head size and RoPE
/// base; <see cref="PartialRotary"/> of the global layers' pairs rotate (the rest get a 1e30 frequency divisor).
/// </summary>
public sealed record SlidingShape(int Window, int Period, int KvHeads, int HeadDim, float RopeBase, float PartialRotary)
{
    /// <summary>The global layers' rope_freqs: 1 for the rotated pairs, 1e30 for the others.</summary>
    public float[] FreqFactors(int globalHeadDim)
    {
        var factors = new float[globalHeadDim / 2];
        int rotated = (int)(factors.Length * PartialRotary);
        for (int i = 0; i < factors.Length; i++)
            factors[i] = i < rotated ? 1f : 1e30f;
        return factors;
    }
}

/// <summary>The Gated DeltaNet part of a hybrid shape: llama.cpp's <c>ssm.*</c> keys and <c>full_attention_interval</c>.</summary>
public sealed record DeltaNetShape(int FullAttentionInterval, int ConvKernel, int StateSize, int GroupCount, int TimeStepRank, int InnerSize)
{
    public int ConvChannels => 2 * GroupCount * StateSize + InnerSize;

    public bool IsRecurrent(int layer) => (layer + 1) % FullAttentionInterval != 0;
}

/// <summary>The table of shapes `tern synth` knows.</summary>
public static class ModelShapes
{
    private static readonly ModelShape[] Rows =
    [
        //  name            arch      n_embd layers heads kv  n_ff   vocab   context rope base   rms eps vocabulary                                default type
        new("tiny",         "llama",   256,  2,     4,    2,  768,   1024,   4096,   10_000f,    1e-5f, SyntheticVocabularyKind.SentencePiece, "f16"),
        new("llama-1b",     "llama",   2048, 16,    32,   8,  8192,  32000,  131072, 500_000f,   1e-5f, SyntheticVocabularyKind.SentencePiece, "f16") { TiedOutput = true },
        new("llama-8b",     "llama",   4096, 32,    32,   8,  14336, 128256, 131072, 500_000f,   1e-5f, SyntheticVocabularyKind.SentencePiece, "f16"),
        new("qwen2.5-0.5b", "qwen2",   896,  24,    14,   2,  4864,  151936, 32768,  1_000_000f, 1e-6f, SyntheticVocabularyKind.ByteLevelBpe,  "f16") { TiedOutput = true, QkvBias = true },
        new("qwen3-0.6b",   "qwen3",   1024, 28,    16,   8,  3072,  151936, 40960,  1_000_000f, 1e-6f, SyntheticVocabularyKind.ByteLevelBpe,  "f16") { TiedOutput = true, QkNorm = true, KeyLength = 128 },
        // n_ff is the config's dense intermediate_size, written as llama.cpp's converter does; every layer uses experts
        new("qwen3-30b-a3b", "qwen3moe", 2048, 48,  32,   4,  6144,  151936, 40960,  1_000_000f, 1e-6f, SyntheticVocabularyKind.ByteLevelBpe,  "q4_k_m") { QkNorm = true, KeyLength = 128, ExpertCount = 128, ExpertUsedCount = 8, ExpertFeedForwardLength = 768 },
        // Qwen3.6-35B-A3B: 30 Gated DeltaNet layers and 10 gated attention layers (every 4th), 256 experts + a shared one
        new("qwen3.6-35b-a3b", "qwen35moe", 2048, 40, 16,  2,  0,     248320, 262144, 10_000_000f, 1e-6f, SyntheticVocabularyKind.ByteLevelBpe, "q4_k_m")
        {
            QkNorm = true, KeyLength = 256, RopeDimensions = 64, ExpertCount = 256, ExpertUsedCount = 8, ExpertFeedForwardLength = 512,
            SharedExpertFeedForwardLength = 512, DeltaNet = new(FullAttentionInterval: 4, ConvKernel: 4, StateSize: 128, GroupCount: 16, TimeStepRank: 32, InnerSize: 4096),
        },
        // Gemma 4 26B-A4B: 25 sliding-window layers (8 KV heads of 256) and 5 global ones (2 KV heads of 512, a quarter
        // of the pairs rotated), a dense FFN of 2112 beside 128 experts of 704 (8 used), tied embeddings, logits capped at 30
        new("gemma4-26b-a4b", "gemma4",  2816, 30,  16,   2,  2112,  262144, 262144, 1_000_000f, 1e-6f, SyntheticVocabularyKind.SentencePiece, "q4_k_m")
        {
            TiedOutput = true, QkNorm = true, KeyLength = 512, ExpertCount = 128, ExpertUsedCount = 8, ExpertFeedForwardLength = 704,
            Sliding = new(Window: 1024, Period: 6, KvHeads: 8, HeadDim: 256, RopeBase: 10_000f, PartialRotary: 0.25f),
        },
        new("bitnet-2b",    "bitnet",  2560, 30,    20,   5,  6912,  128256, 4096,   500_000f,   1e-5f, SyntheticVocabularyKind.SentencePiece, "tq2_0") { TiedOutput = true, SubNorms = true, TernaryWeights = true },
    ];

    public static IReadOnlyList<ModelShape> All { get; } = Array.AsReadOnly(Rows);

    public static IEnumerable<string> Names => Rows.Select(r => r.Name);

    public static bool TryGet(string name, [MaybeNullWhen(false)] out ModelShape shape)
    {
        shape = Array.Find(Rows, r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));
        return shape is not null;
    }

    public static ModelShape Get(string name) => TryGet(name, out var shape)
        ? shape
        : throw new SynthesisException($"unknown shape '{name}'; valid shapes: {string.Join(", ", Names)}");
}
