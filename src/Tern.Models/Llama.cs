using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// llama: pre-norm decoder blocks of grouped-query self-attention with RoPE and a SwiGLU feed-forward, or a
/// Mixture-of-Experts feed-forward when <c>llama.expert_count</c> is set (Mixtral-style).
/// </summary>
public class Llama : DecoderModel
{
    private readonly Layer[] _layers;

    internal Llama(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, h, options)
    {
        _layers = new Layer[h.BlockCount];
        for (int i = 0; i < h.BlockCount; i++)
        {
            _layers[i] = new Layer(
                Weights.Vector($"blk.{i}.attn_norm.weight", h.EmbeddingLength),
                AttentionWeights.Load(Weights, h, i),
                Weights.Vector($"blk.{i}.ffn_norm.weight", h.EmbeddingLength),
                h.ExpertCount > 0 ? null : FeedForwardWeights.Load(Weights, h, i),
                h.ExpertCount > 0 ? ExpertWeights.Load(Weights, h, i) : null);
        }
    }

    protected override RopeStyle RopeStyle => RopeStyle.Normal;

    private protected IReadOnlyList<Layer> Layers => _layers;

    protected override void ForwardLayer(int layer)
    {
        var w = _layers[layer];

        // x = x + W_o · attention(norm(x))
        RmsNorm(X, w.AttentionNorm, H);                    // [N, n_embd]
        SelfAttention(layer, H, w.Attention, Heads(layer));       // [N, n_head·head_dim]
        Linear(w.Attention.Output, Heads(layer), BlockOut);       // [N, n_embd]
        AddTo(X, BlockOut);

        // x = x + ffn(norm(x))
        RmsNorm(X, w.FeedForwardNorm, H);                  // [N, n_embd]
        if (w.Experts is not null)
            MixtureOfExperts(H, w.Experts, BlockOut);      // [N, n_embd]
        else
            FeedForward(H, w.FeedForward!, BlockOut);      // [N, n_embd]
        AddTo(X, BlockOut);
    }

    private protected sealed record Layer(
        float[] AttentionNorm, AttentionWeights Attention, float[] FeedForwardNorm, FeedForwardWeights? FeedForward, ExpertWeights? Experts);
}
