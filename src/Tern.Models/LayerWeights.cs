namespace Tern.Models;

/// <summary>Projections of one self-attention block; biases are present in some architectures (qwen2), RMS norms
/// of each query and key head before RoPE in others (qwen3, gemma3). Without <see cref="V"/> (gemma4's global
/// layers) the values are the key projection itself, taken before the key norm.</summary>
public sealed record AttentionWeights(Weight Q, Weight K, Weight? V, Weight Output, float[]? QBias, float[]? KBias, float[]? VBias)
{
    public float[]? QNorm { get; init; }
    public float[]? KNorm { get; init; }

    /// <summary>The layer's projections, shaped by its <see cref="AttentionSpec"/>; <paramref name="optionalValues"/>:
    /// the architecture allows a layer without <c>attn_v</c>.</summary>
    internal static AttentionWeights Load(WeightLoader w, ModelConfig h, int layer, bool optionalValues = false)
    {
        string p = $"blk.{layer}.";
        var a = h.Layers[layer].Attention!;
        return new AttentionWeights(
            w.Matrix(p + "attn_q.weight", h.EmbeddingLength, a.QDim),
            w.Matrix(p + "attn_k.weight", h.EmbeddingLength, a.KvDim),
            optionalValues ? w.TryMatrix(p + "attn_v.weight", h.EmbeddingLength, a.KvDim) : w.Matrix(p + "attn_v.weight", h.EmbeddingLength, a.KvDim),
            w.Matrix(p + "attn_output.weight", a.QDim, h.EmbeddingLength),
            w.TryVector(p + "attn_q.bias", a.QDim),
            w.TryVector(p + "attn_k.bias", a.KvDim),
            w.TryVector(p + "attn_v.bias", a.KvDim))
        {
            QNorm = w.TryVector(p + "attn_q_norm.weight", a.HeadDim),
            KNorm = w.TryVector(p + "attn_k_norm.weight", a.HeadDim),
        };
    }
}

/// <summary>A SwiGLU feed-forward block: down(silu(gate·x) ⊙ up·x).</summary>
public sealed record FeedForwardWeights(Weight Gate, Weight Up, Weight Down)
{
    internal static FeedForwardWeights Load(WeightLoader w, ModelConfig h, int layer)
    {
        string p = $"blk.{layer}.";
        return new FeedForwardWeights(
            w.Matrix(p + "ffn_gate.weight", h.EmbeddingLength, h.FeedForwardLength),
            w.Matrix(p + "ffn_up.weight", h.EmbeddingLength, h.FeedForwardLength),
            w.Matrix(p + "ffn_down.weight", h.FeedForwardLength, h.EmbeddingLength));
    }
}

/// <summary>
/// A Mixture-of-Experts block: a router over <c>expert_count</c> gated experts, of which <c>expert_used_count</c> run
/// per token. Each expert's gate and up are <see cref="Gate"/> and <see cref="Up"/>, or one fused <see cref="GateUp"/>
/// (gemma4: per expert 2·n_ff_exp rows, gate first). Options as llama.cpp's build_moe_ffn has them:
/// <see cref="RouterInputScale"/> (gemma4's <c>ffn_gate_inp.scale</c>: the router sees rms_norm(x) / √n_embd ⊙ scale)
/// and <see cref="DownScale"/> (<c>ffn_down_exps.scale</c>: each expert's output times its own factor), and a shared
/// expert every token runs, scaled by sigmoid(<see cref="SharedGate"/> · x) (qwen35moe).
/// </summary>
public sealed record ExpertWeights(Weight Router, Weight? Gate, Weight? Up, Weight Down)
{
    public Weight? GateUp { get; init; }
    public float[]? RouterInputScale { get; init; }
    public float[]? DownScale { get; init; }
    public FeedForwardWeights? Shared { get; init; }
    public float[]? SharedGate { get; init; }

    internal static ExpertWeights Load(WeightLoader w, ModelConfig h, int layer)
    {
        string p = $"blk.{layer}.";
        int n = h.ExpertCount, d = h.EmbeddingLength, ff = h.ExpertFeedForwardLength;
        bool fused = w.Has(p + "ffn_gate_up_exps.weight");
        return new ExpertWeights(
            w.Matrix(p + "ffn_gate_inp.weight", d, n),
            fused ? null : w.Experts(p + "ffn_gate_exps.weight", d, ff, n),
            fused ? null : w.Experts(p + "ffn_up_exps.weight", d, ff, n),
            w.Experts(p + "ffn_down_exps.weight", ff, d, n))
        {
            GateUp = fused ? w.Experts(p + "ffn_gate_up_exps.weight", d, 2 * ff, n) : null,
            RouterInputScale = w.TryVector(p + "ffn_gate_inp.scale", d),
            DownScale = w.TryVector(p + "ffn_down_exps.scale", n),
            Shared = h.SharedExpertFeedForwardLength == 0 ? null : new FeedForwardWeights(
                w.Matrix(p + "ffn_gate_shexp.weight", d, h.SharedExpertFeedForwardLength),
                w.Matrix(p + "ffn_up_shexp.weight", d, h.SharedExpertFeedForwardLength),
                w.Matrix(p + "ffn_down_shexp.weight", h.SharedExpertFeedForwardLength, d)),
            SharedGate = h.SharedExpertFeedForwardLength == 0 ? null : w.Vector(p + "ffn_gate_inp_shexp.weight", d),
        };
    }
}
