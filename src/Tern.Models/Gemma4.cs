using System.Numerics.Tensors;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// gemma4 (llama.cpp's gemma4-iswa): gemma3's block (embeddings × √n_embd, RMS norms before and after attention and
/// feed-forward, Q/K head norms, NeoX RoPE, tanh-GELU) with per-layer shapes: the layers marked in
/// <c>attention.sliding_window_pattern</c> attend over a sliding window with head size <c>key_length_swa</c> and
/// RoPE base <c>rope.freq_base_swa</c>, the others globally with head size <c>key_length</c>, RoPE base
/// <c>rope.freq_base</c> and the frequency factors of <c>rope_freqs</c> (proportional RoPE); KV heads per layer
/// (<c>attention.head_count_kv</c> as an array). Attention scale 1 (q and k are unit-RMS per head), value heads
/// RMS-normed without a weight, V = the K projection where a layer has no <c>attn_v</c>. A layer with a router runs a
/// dense GEGLU feed-forward and the experts side by side (<see cref="DecoderModel.MixtureOfExperts"/> with its router
/// input norm and scale and fused gate+up experts), each with its own norms. Optional: a per-layer output scale. Logits are
/// soft-capped at <c>final_logit_softcapping</c>, 30 when the file sets none (as llama.cpp does). Norm weights are used as stored (the converter has already added Gemma's +1).
/// </summary>
public sealed class Gemma4 : DecoderModel
{
    private readonly Layer[] _layers;

    internal Gemma4(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, h, options)
    {
        _layers = new Layer[h.BlockCount];
        for (int i = 0; i < h.BlockCount; i++)
        {
            string p = $"blk.{i}.";
            float[] Vector(string name) => Weights.Vector(p + name + ".weight", h.EmbeddingLength);
            var attention = AttentionWeights.Load(Weights, h, i, optionalValues: true); // Q/K norms: the tensor table requires them
            bool experts = h.Layers[i].FeedForward.HasFlag(FeedForwardKind.Experts);
            _layers[i] = new Layer(
                Vector("attn_norm"), attention, Vector("post_attention_norm"),
                Vector("ffn_norm"), FeedForwardWeights.Load(Weights, h, i), experts ? Vector("post_ffw_norm_1") : null,
                experts ? Vector("pre_ffw_norm_2") : null, experts ? ExpertWeights.Load(Weights, h, i) : null, experts ? Vector("post_ffw_norm_2") : null,
                Vector("post_ffw_norm"),
                Weights.TryVector(p + "layer_output_scale.weight", 1)?[0]); // the router's input scale: required by the tensor table
        }
    }

    protected override RopeStyle RopeStyle => RopeStyle.NeoX;

    protected override float EmbeddingScale => MathF.Sqrt(Config.EmbeddingLength);

    protected override float AttentionScale(AttentionSpec layer) => 1f;

    protected override void ForwardLayer(int layer)
    {
        var w = _layers[layer];

        // x = x + norm(W_o · attention(norm(x)))
        RmsNorm(X, w.AttentionNorm, H);                                           // [N, n_embd]
        SelfAttention(layer, H, w.Attention, Heads(layer), normValues: true);    // [N, n_head·head_dim]
        Linear(w.Attention.Output, Heads(layer), BlockOut);                       // [N, n_embd]
        RmsNorm(BlockOut, w.PostAttentionNorm, BlockOut);
        AddTo(X, BlockOut);

        // f = W_down · (gelu(W_gate·h) ⊙ W_up·h), h = norm(x)
        RmsNorm(X, w.FeedForwardNorm, H);                                         // [N, n_embd]
        FeedForward(H, w.FeedForward, BlockOut, geluTanh: true);                  // [N, n_embd]
        if (w.Experts is not null)
        {
            // f = norm(f) + norm(experts(norm(x))), the router reading x itself
            RmsNorm(BlockOut, w.PostDenseNorm!, BlockOut);
            RmsNorm(X, w.ExpertsNorm!, H);                                        // [N, n_embd]
            MixtureOfExperts(H, w.Experts, SecondOut, geluTanh: true, routerInput: X); // [N, n_embd]
            RmsNorm(SecondOut, w.PostExpertsNorm!, SecondOut);
            AddTo(BlockOut, SecondOut);
        }

        // x = (x + norm(f)) · layer scale
        RmsNorm(BlockOut, w.PostFeedForwardNorm, BlockOut);
        AddTo(X, BlockOut);
        if (w.OutputScale is { } scale)
            TensorPrimitives.Multiply(X, scale, X);
    }

    private sealed record Layer(
        float[] AttentionNorm, AttentionWeights Attention, float[] PostAttentionNorm,
        float[] FeedForwardNorm, FeedForwardWeights FeedForward, float[]? PostDenseNorm,
        float[]? ExpertsNorm, ExpertWeights? Experts, float[]? PostExpertsNorm,
        float[] PostFeedForwardNorm, float? OutputScale);

    /// <summary>
    /// gemma4's per-layer shapes over the ones <see cref="ModelConfig.FromGguf"/> read for all layers: which layers
    /// slide (<c>attention.sliding_window_pattern</c>, one boolean per layer), KV heads per layer, head size and
    /// rotated dimensions of each kind of layer (<c>key_length[_swa]</c>, <c>rope.dimension_count[_swa]</c>), RoPE
    /// bases (the sliding one defaults to the global one, as in llama.cpp), <c>rope_freqs</c> as the global layers'
    /// frequency factors (one array shared by all of them, so their RoPE settings compare equal), which layers have
    /// experts beside the dense feed-forward (those with a router), and the final logit soft-cap (30 unless
    /// <c>final_logit_softcapping</c> says otherwise, as llama.cpp). Every value is
    /// checked against the layer's tensors; a bad one is a <see cref="ModelLoadException"/> naming the key.
    /// </summary>
    internal static ModelConfig Configure(ModelMetadata meta, ModelConfig h)
    {
        static string Key(string name) => "gemma4." + name;
        var file = meta.File;
        int layers = h.BlockCount, heads = h.HeadCount;
        if (meta.Count(Key("embedding_length_per_layer_input"), 0) is > 0)
            throw meta.Error(Key("embedding_length_per_layer_input"), "per-layer embeddings (gemma4 E2B/E4B) are not supported");
        if (meta.Count(Key("attention.shared_kv_layers"), 0) is > 0)
            throw meta.Error(Key("attention.shared_kv_layers"), "layers sharing another layer's KV cache (gemma4 E2B/E4B) are not supported");
        if (h.SlidingWindow == 0)
            throw meta.Missing(Key("attention.sliding_window"));
        bool[] sliding = meta.PerLayerFlags(Key("attention.sliding_window_pattern"), layers) ?? throw meta.Missing(Key("attention.sliding_window_pattern"));
        int[] kvHeads = meta.PerLayerCounts(Key("attention.head_count_kv"), layers, 1, heads, "head_count") ?? Enumerable.Repeat(heads, layers).ToArray();
        for (int i = 0; i < layers; i++)
        {
            if (heads % kvHeads[i] != 0)
                throw meta.Error(Key("attention.head_count_kv"), $"entry {i} is {kvHeads[i]}: {Key("attention.head_count")} {heads} is not a multiple of it");
        }

        int headDim = h.HeadDim;
        int headDimSwa = meta.Count(Key("attention.key_length_swa"), 1) ?? headDim;
        int ropeDimsSwa = meta.Count(Key("rope.dimension_count_swa"), 2) ?? h.RopeDimensionCount;
        float baseSwa = meta.Positive(Key("rope.freq_base_swa"), h.RopeFreqBase);
        var rope = new RopeSpec(h.RopeDimensionCount, h.RopeFreqBase, FrequencyFactors(file, h.RopeDimensionCount / 2));
        var ropeSwa = new RopeSpec(ropeDimsSwa, baseSwa);

        var specs = new LayerSpec[layers];
        for (int i = 0; i < layers; i++)
        {
            bool swa = sliding[i];
            int hd = swa ? headDimSwa : headDim;
            string headKey = Key(swa ? "attention.key_length_swa" : "attention.key_length");
            long qDim = (long)heads * hd, kvDim = (long)kvHeads[i] * hd;
            if (qDim > int.MaxValue)
                throw meta.Error(headKey, $"{heads} heads × head size {hd} = {qDim} query rows is too many");
            meta.MustMatch(headKey, qDim, $"blk.{i}.attn_q.weight", 1, $"{heads} heads × head size {hd} = {qDim} query rows");
            meta.MustMatch(Key("attention.head_count_kv"), kvDim, $"blk.{i}.attn_k.weight", 1, $"layer {i}: {kvHeads[i]} KV heads × head size {hd} = {kvDim} key rows");
            bool experts = file.TryGetTensor($"blk.{i}.ffn_gate_inp.weight", out _);
            if (experts)
            {
                if (h.ExpertCount == 0)
                    throw meta.Error(Key("expert_count"), $"blk.{i}.ffn_gate_inp.weight routes to experts");
                meta.MustMatch(Key("expert_feed_forward_length"), 2L * h.ExpertFeedForwardLength, $"blk.{i}.ffn_gate_up_exps.weight", 1,
                    $"gate and up of {h.ExpertFeedForwardLength} rows each = {2L * h.ExpertFeedForwardLength}");
                meta.MustMatch(Key("expert_count"), h.ExpertCount, $"blk.{i}.ffn_gate_up_exps.weight", 2);
            }

            var attention = new AttentionSpec(heads, kvHeads[i], hd, swa ? ropeSwa : rope, swa ? h.SlidingWindow : 0);
            specs[i] = new LayerSpec(i, attention, experts ? FeedForwardKind.DenseAndExperts : FeedForwardKind.Dense);
        }

        // After the head sizes are checked against the tensors, so that a wrong key length is the key named.
        if (ropeDimsSwa % 2 != 0 || ropeDimsSwa > headDimSwa)
            throw meta.Error(Key("rope.dimension_count_swa"), $"must be even and at most the sliding layers' head size {headDimSwa} (when absent: {Key("rope.dimension_count")})");
        if (meta.Count(Key("attention.value_length_swa"), 1) is { } valueLength && valueLength != headDimSwa)
            throw meta.Error(Key("attention.value_length_swa"), $"Tern needs it equal to the key length {headDimSwa}");
        // llama.cpp caps gemma4's logits at 30 unless the file says otherwise (as for gemma2)
        float softCap = meta.Positive(Key("final_logit_softcapping"), 30f);
        return h with { Layers = specs, HeadCountKv = kvHeads.Max(), RopeFreqBaseSwa = baseSwa, FinalLogitSoftcap = softCap };
    }

    /// <summary>The global layers' RoPE frequency factors (<c>rope_freqs.weight</c>, one per rotated pair), or null
    /// when the file has none.</summary>
    private static float[]? FrequencyFactors(GgufFile file, int pairs)
    {
        const string name = "rope_freqs.weight";
        if (!file.TryGetTensor(name, out var tensor))
            return null;
        if (tensor.Dimensions.Length != 1 || tensor.Dimensions[0] != pairs)
            throw new ModelLoadException(file.Path, $"tensor {name} has shape {tensor.Shape}; expected [{pairs}] (gemma4.rope.dimension_count / 2)");
        if (!QuantTypes.IsSupported(tensor.Type) || QuantTypes.Get(tensor.Type).BlockSize != 1)
            throw new ModelLoadException(file.Path, $"tensor {name} has type {tensor.Type}; expected a float type");
        var factors = new float[pairs];
        QuantTypes.Get(tensor.Type).ToFloat(file.GetTensorBytes(tensor), factors);
        for (int i = 0; i < pairs; i++)
        {
            if (!float.IsFinite(factors[i]) || factors[i] <= 0)
                throw new ModelLoadException(file.Path, $"tensor {name}: factor {i} is {factors[i]}; frequency factors must be finite and above 0");
        }

        return factors;
    }
}
