using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// gemma3: embeddings scaled by √n_embd; blocks with RMS norms before and after both attention and the GEGLU
/// (tanh-GELU) feed-forward; RMS norms on each query and key head; NeoX RoPE. Five layers in six attend over a
/// sliding window of <c>attention.sliding_window</c> positions with their own RoPE base (10,000 unless
/// <c>rope.freq_base_swa</c> says otherwise); every sixth (or every <c>attention.sliding_window_pattern</c>-th)
/// attends globally with <c>rope.freq_base</c>. As in llama.cpp, the norm weights are used as stored (the GGUF
/// converter has already added Gemma's +1).
/// </summary>
public sealed class Gemma3 : DecoderModel
{
    private readonly Layer[] _layers;

    internal Gemma3(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, h, options)
    {
        if (h.SlidingWindow == 0)
            throw new ModelLoadException(file.Path, "gemma3.attention.sliding_window is missing: Tern runs gemma3 with its sliding-window layers");
        _layers = new Layer[h.BlockCount];
        for (int i = 0; i < h.BlockCount; i++)
        {
            _layers[i] = new Layer(
                Weights.Vector($"blk.{i}.attn_norm.weight", h.EmbeddingLength),
                AttentionWeights.Load(Weights, h, i),          // with its Q/K norms (the tensor table requires them)
                Weights.Vector($"blk.{i}.post_attention_norm.weight", h.EmbeddingLength),
                Weights.Vector($"blk.{i}.ffn_norm.weight", h.EmbeddingLength),
                FeedForwardWeights.Load(Weights, h, i),
                Weights.Vector($"blk.{i}.post_ffw_norm.weight", h.EmbeddingLength));
        }
    }

    protected override RopeStyle RopeStyle => RopeStyle.NeoX;

    protected override float EmbeddingScale => MathF.Sqrt(Config.EmbeddingLength);

    /// <summary>1/√head_dim, except for the 27B shape (62 layers), which Google scales by 1/√(n_embd/n_head), as llama.cpp does.</summary>
    protected override float AttentionScale(AttentionSpec layer) =>
        1f / MathF.Sqrt(Config.BlockCount == 62 ? Config.EmbeddingLength / layer.Heads : layer.HeadDim);

    /// <summary>Whether a layer attends over the sliding window (the others attend globally).</summary>
    public bool IsSliding(int layer) => Config.Layers[layer].Attention!.Sliding;

    protected override void ForwardLayer(int layer)
    {
        var w = _layers[layer];

        // x = x + norm(W_o · attention(norm(x)))
        RmsNorm(X, w.AttentionNorm, H);                                   // [N, n_embd]
        SelfAttention(layer, H, w.Attention, Heads(layer));           // [N, n_head·head_dim]
        Linear(w.Attention.Output, Heads(layer), BlockOut);                      // [N, n_embd]
        RmsNorm(BlockOut, w.PostAttentionNorm, BlockOut);
        AddTo(X, BlockOut);

        // x = x + norm(W_down · (gelu(W_gate·h) ⊙ W_up·h)), h = norm(x)
        RmsNorm(X, w.FeedForwardNorm, H);                                 // [N, n_embd]
        FeedForward(H, w.FeedForward, BlockOut, geluTanh: true);          // [N, n_embd]
        RmsNorm(BlockOut, w.PostFeedForwardNorm, BlockOut);
        AddTo(X, BlockOut);
    }

    private sealed record Layer(
        float[] AttentionNorm, AttentionWeights Attention, float[] PostAttentionNorm,
        float[] FeedForwardNorm, FeedForwardWeights FeedForward, float[] PostFeedForwardNorm);
}
