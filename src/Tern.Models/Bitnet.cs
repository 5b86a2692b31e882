using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// bitnet (BitNet b1.58): the llama block with ternary weights and two extra RMS norms, one on the attention
/// heads' output before W_o and one on the SwiGLU activations before W_down; the output projection is tied to
/// the token embeddings. RoPE rotates halves (NeoX style).
/// </summary>
public sealed class Bitnet : DecoderModel
{
    private readonly Layer[] _layers;

    internal Bitnet(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, h, options)
    {
        _layers = new Layer[h.BlockCount];
        for (int i = 0; i < h.BlockCount; i++)
        {
            _layers[i] = new Layer(
                Weights.Vector($"blk.{i}.attn_norm.weight", h.EmbeddingLength),
                AttentionWeights.Load(Weights, h, i),
                Weights.Vector($"blk.{i}.attn_sub_norm.weight", h.QDim),
                Weights.Vector($"blk.{i}.ffn_norm.weight", h.EmbeddingLength),
                FeedForwardWeights.Load(Weights, h, i),
                Weights.Vector($"blk.{i}.ffn_sub_norm.weight", h.FeedForwardLength));
        }
    }

    protected override RopeStyle RopeStyle => RopeStyle.NeoX; // as llama.cpp runs bitnet

    protected override void ForwardLayer(int layer)
    {
        var w = _layers[layer];

        // x = x + W_o · norm(attention(norm(x)))
        RmsNorm(X, w.AttentionNorm, H);                            // [N, n_embd]
        SelfAttention(layer, H, w.Attention, Heads(layer));               // [N, n_head·head_dim]
        RmsNorm(Heads(layer), w.AttentionSubNorm, Heads(layer));
        Linear(w.Attention.Output, Heads(layer), BlockOut);               // [N, n_embd]
        AddTo(X, BlockOut);

        // x = x + W_down · norm(silu(W_gate·h) ⊙ W_up·h), h = norm(x)
        RmsNorm(X, w.FeedForwardNorm, H);                          // [N, n_embd]
        FeedForward(H, w.FeedForward, BlockOut, w.FeedForwardSubNorm);
        AddTo(X, BlockOut);
    }

    private sealed record Layer(
        float[] AttentionNorm, AttentionWeights Attention, float[] AttentionSubNorm,
        float[] FeedForwardNorm, FeedForwardWeights FeedForward, float[] FeedForwardSubNorm);
}
