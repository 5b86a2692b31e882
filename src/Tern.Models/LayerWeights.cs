namespace Tern.Models;

/// <summary>Projections of one self-attention block; biases are present in some architectures (qwen2), RMS norms
/// of each query and key head before RoPE in others (qwen3, gemma3).</summary>
public sealed record AttentionWeights(Weight Q, Weight K, Weight V, Weight Output, float[]? QBias, float[]? KBias, float[]? VBias)
{
    public float[]? QNorm { get; init; }
    public float[]? KNorm { get; init; }

    internal static AttentionWeights Load(WeightLoader w, ModelConfig h, int layer)
    {
        string p = $"blk.{layer}.";
        return new AttentionWeights(
            w.Matrix(p + "attn_q.weight", h.EmbeddingLength, h.QDim),
            w.Matrix(p + "attn_k.weight", h.EmbeddingLength, h.KvDim),
            w.Matrix(p + "attn_v.weight", h.EmbeddingLength, h.KvDim),
            w.Matrix(p + "attn_output.weight", h.QDim, h.EmbeddingLength),
            w.TryVector(p + "attn_q.bias", h.QDim),
            w.TryVector(p + "attn_k.bias", h.KvDim),
            w.TryVector(p + "attn_v.bias", h.KvDim))
        {
            QNorm = w.TryVector(p + "attn_q_norm.weight", h.HeadDim),
            KNorm = w.TryVector(p + "attn_k_norm.weight", h.HeadDim),
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

/// <summary>A Mixture-of-Experts block: a router over <c>expert_count</c> SwiGLU experts, of which
/// <c>expert_used_count</c> run per token, and optionally a shared expert that every token runs, scaled by
/// sigmoid(<see cref="SharedGate"/> · x) (qwen35moe).</summary>
public sealed record ExpertWeights(Weight Router, Weight Gate, Weight Up, Weight Down)
{
    public FeedForwardWeights? Shared { get; init; }
    public float[]? SharedGate { get; init; }

    internal static ExpertWeights Load(WeightLoader w, ModelConfig h, int layer)
    {
        string p = $"blk.{layer}.";
        int n = h.ExpertCount;
        return new ExpertWeights(
            w.Matrix(p + "ffn_gate_inp.weight", h.EmbeddingLength, n),
            w.Experts(p + "ffn_gate_exps.weight", h.EmbeddingLength, h.ExpertFeedForwardLength, n),
            w.Experts(p + "ffn_up_exps.weight", h.EmbeddingLength, h.ExpertFeedForwardLength, n),
            w.Experts(p + "ffn_down_exps.weight", h.ExpertFeedForwardLength, h.EmbeddingLength, n))
        {
            Shared = h.SharedExpertFeedForwardLength == 0 ? null : new FeedForwardWeights(
                w.Matrix(p + "ffn_gate_shexp.weight", h.EmbeddingLength, h.SharedExpertFeedForwardLength),
                w.Matrix(p + "ffn_up_shexp.weight", h.EmbeddingLength, h.SharedExpertFeedForwardLength),
                w.Matrix(p + "ffn_down_shexp.weight", h.SharedExpertFeedForwardLength, h.EmbeddingLength)),
            SharedGate = h.SharedExpertFeedForwardLength == 0 ? null : w.Vector(p + "ffn_gate_inp_shexp.weight", h.EmbeddingLength),
        };
    }
}
