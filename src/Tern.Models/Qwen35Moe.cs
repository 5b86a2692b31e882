using System.Numerics.Tensors;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// qwen35moe (Qwen3.5 / Qwen3.6 MoE): a hybrid stack. Three layers in four are Gated DeltaNet layers, a linear
/// recurrence with a fixed-size state per sequence (a causal conv over the fused q/k/v projection, then per value
/// head a [key, value] matrix updated by the delta rule); every fourth (<c>full_attention_interval</c>) is full
/// attention whose queries carry a sigmoid output gate. Every layer's feed-forward is a Mixture-of-Experts (softmax →
/// top-k → renormalise) plus a shared expert scaled by sigmoid(gate · x). Pre-norm blocks: x += mixer(norm(x)), then
/// x += moe(norm(x)) with <c>post_attention_norm</c>. RoPE is NeoX on the first <c>rope.dimension_count</c> dims of a
/// head (for text, the multi-section RoPE of the file is exactly this).
/// </summary>
public sealed class Qwen35Moe : DecoderModel
{
    private readonly Layer[] _layers;
    private float[] _qkv = [], _conv = [], _z = [], _beta = [], _g = [], _core = [], _query = [], _gate = [];
    private (int First, int Count, int Slot)[] _runs = [];

    internal Qwen35Moe(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, RequireExperts(file, h), options)
    {
        _layers = new Layer[h.BlockCount];
        for (int i = 0; i < h.BlockCount; i++)
        {
            string p = $"blk.{i}.";
            var spec = h.Layers[i];
            _layers[i] = new Layer(
                Weights.Vector(p + "attn_norm.weight", h.EmbeddingLength),
                spec.DeltaNet is { } d ? LoadDeltaNet(p, d) : null,
                spec.Attention is { } a ? LoadAttention(p, a) : null,
                Weights.Vector(p + "post_attention_norm.weight", h.EmbeddingLength),
                ExpertWeights.Load(Weights, h, i));
        }
    }

    private static ModelConfig RequireExperts(GgufFile file, ModelConfig h) =>
        h.ExpertCount > 0 && h.SharedExpertFeedForwardLength > 0
            ? h
            : throw new ModelLoadException(file.Path, "qwen35moe needs expert_count and expert_shared_feed_forward_length: every block has routed and shared experts");

    protected override RopeStyle RopeStyle => RopeStyle.NeoX;

    protected override void ForwardLayer(int layer)
    {
        var w = _layers[layer];

        // x = x + mixer(norm(x))
        RmsNorm(X, w.AttentionNorm, H);                                        // [N, n_embd]
        if (w.DeltaNet is not null)
            GatedDeltaNet(layer, H, w.DeltaNet, BlockOut);                     // [N, n_embd]
        else
            GatedAttention(layer, H, w.Attention!, BlockOut);                  // [N, n_embd]
        AddTo(X, BlockOut);

        // x = x + moe(norm(x)) + shared expert
        RmsNorm(X, w.PostAttentionNorm, H);                                    // [N, n_embd]
        MixtureOfExperts(H, w.Experts, BlockOut);                              // [N, n_embd]
        AddTo(X, BlockOut);
    }

    /// <summary>
    /// Gated DeltaNet over the batch, each sequence's run of tokens continuing its recurrent slot:
    /// qkv = W_qkv·h, z = W_gate·h, β = σ(W_β·h), g = softplus(W_α·h + dt_bias)·a; a causal conv (kernel 4) and
    /// SiLU over qkv; L2-normed q and k heads; per value head (key head = v mod n_k) the delta rule over its state;
    /// a gated RMS norm of each head's output with silu(z); then W_out. h: [N, n_embd] → output: [N, n_embd].
    /// </summary>
    private void GatedDeltaNet(int layer, ReadOnlySpan<float> h, DeltaNetWeights w, Span<float> output)
    {
        var s = Config.Layers[layer].DeltaNet!;
        int channels = s.ConvChannels, keyDim = s.KeyHeads * s.HeadKeyDim, valueDim = s.ValueHeads * s.HeadValueDim;
        var qkv = Scratch(ref _qkv, channels);                                 // [N, 2·key_dim + value_dim]
        var conv = Scratch(ref _conv, channels);                               // [N, 2·key_dim + value_dim]
        var z = Scratch(ref _z, valueDim);                                     // [N, value_dim]
        var beta = Scratch(ref _beta, s.ValueHeads);                           // [N, n_v_heads]
        var g = Scratch(ref _g, s.ValueHeads);                                 // [N, n_v_heads]
        var core = Scratch(ref _core, valueDim);                               // [N, value_dim]
        Linear(w.Qkv, h, qkv);
        Linear(w.Gate, h, z);
        Linear(w.Beta, h, beta);
        TensorPrimitives.Sigmoid(beta, beta);
        Linear(w.Alpha, h, g);
        for (int t = 0; t < N; t++)
            DeltaNet.Decay(g.Slice(t * s.ValueHeads, s.ValueHeads), w.DtBias, w.A, g.Slice(t * s.ValueHeads, s.ValueHeads));

        var recurrent = State.Recurrent!;
        int local = State.RecurrentLayer(layer);
        var sequences = Batch.Sequences;
        int runs = 0;
        for (int first = 0; first < N;)
        {
            // A run: consecutive tokens of one sequence, continuing its state.
            int n = 1;
            while (first + n < N && sequences[first + n] == sequences[first])
                n++;
            var x = conv.Slice(first * channels, n * channels);
            CausalConv.Run(n, qkv.Slice(first * channels, n * channels), w.Conv, recurrent.Conv(sequences[first].RecurrentSlot, local), x);
            Activation.Silu(x);
            for (int t = 0; t < n; t++)
                Norm.L2Norm(x.Slice(t * channels, 2 * keyDim), s.HeadKeyDim, Config.RmsEpsilon);
            if (_runs.Length == runs)
                Array.Resize(ref _runs, 2 * runs + 4);
            _runs[runs++] = (first, n, sequences[first].RecurrentSlot);
            first += n;
        }

        // The delta rule: every (run, value head) a unit of the pool; each reads and writes its own state matrix.
        var job = new DeltaNetJob
        {
            Spec = s,
            Runs = _runs.AsSpan(0, runs),
            X = conv,
            G = g,
            Beta = beta,
            Output = core,
            Recurrent = recurrent,
            Layer = local,
        };
        Pool.Run(ref job, runs * s.ValueHeads, (long)N * s.ValueHeads * s.HeadKeyDim * s.HeadValueDim * sizeof(float) * 4);

        Norm.GatedRmsNorm(core, w.Norm, z, Config.RmsEpsilon, core);          // per head: rows of d_v
        Linear(w.Output, core, output);
    }

    /// <summary>
    /// Full attention with an output gate: W_q gives per head a query and a gate side by side; RMS norms on q and k
    /// heads, RoPE, attention over the KV cache, then each head's output × σ(gate) before W_o.
    /// h: [N, n_embd] → output: [N, n_embd].
    /// </summary>
    private void GatedAttention(int layer, ReadOnlySpan<float> h, AttentionWeights w, Span<float> output)
    {
        var a = Config.Layers[layer].Attention!;
        var both = Scratch(ref _query, 2 * a.QDim);                            // [N, n_head, 2, head_dim]
        var gate = Scratch(ref _gate, a.QDim);                                 // [N, n_head·head_dim]
        var q = Scratch(ref _core, a.QDim);                                    // [N, n_head·head_dim]
        var k = Scratch(ref _qkv, a.KvDim);                                    // [N, n_kv_head·head_dim]
        var v = Scratch(ref _conv, a.KvDim);                                   // [N, n_kv_head·head_dim]
        Linear(w.Q, h, both);
        for (int t = 0; t < N; t++)
        {
            for (int head = 0; head < a.Heads; head++)
            {
                int from = (t * a.Heads + head) * 2 * a.HeadDim, to = t * a.QDim + head * a.HeadDim;
                both.Slice(from, a.HeadDim).CopyTo(q.Slice(to, a.HeadDim));
                both.Slice(from + a.HeadDim, a.HeadDim).CopyTo(gate.Slice(to, a.HeadDim));
            }
        }

        Linear(w.K, h, k);
        Linear(w.V!, h, v);
        RmsNorm(q, w.QNorm!, q);
        RmsNorm(k, w.KNorm!, k);
        ApplyRope(a, q, k);
        var heads = Heads(layer);                                              // [N, n_head·head_dim]
        Attend(layer, a, q, k, v, heads);
        TensorPrimitives.Sigmoid(gate, gate);
        TensorPrimitives.Multiply(heads, gate, heads);
        Linear(w.Output, heads, output);
    }

    private DeltaNetWeights LoadDeltaNet(string p, DeltaNetSpec s)
    {
        int d = Config.EmbeddingLength, valueDim = s.ValueHeads * s.HeadValueDim;
        return new DeltaNetWeights(
            Weights.Matrix(p + "attn_qkv.weight", d, s.ConvChannels),
            Weights.Matrix(p + "attn_gate.weight", d, valueDim),
            Weights.Matrix(p + "ssm_beta.weight", d, s.ValueHeads),
            Weights.Matrix(p + "ssm_alpha.weight", d, s.ValueHeads),
            Weights.Vector(p + "ssm_dt.bias", s.ValueHeads),
            Weights.Vector(p + "ssm_a", s.ValueHeads),
            CausalConv.TapMajor(Weights.Floats(p + "ssm_conv1d.weight", s.ConvKernel, s.ConvChannels), s.ConvKernel),
            Weights.Vector(p + "ssm_norm.weight", s.HeadValueDim),
            Weights.Matrix(p + "ssm_out.weight", valueDim, d));
    }

    private AttentionWeights LoadAttention(string p, AttentionSpec a)
    {
        int d = Config.EmbeddingLength;
        return new AttentionWeights(
            Weights.Matrix(p + "attn_q.weight", d, 2 * a.QDim),
            Weights.Matrix(p + "attn_k.weight", d, a.KvDim),
            Weights.Matrix(p + "attn_v.weight", d, a.KvDim),
            Weights.Matrix(p + "attn_output.weight", a.QDim, d),
            null, null, null)
        {
            QNorm = Weights.Vector(p + "attn_q_norm.weight", a.HeadDim),
            KNorm = Weights.Vector(p + "attn_k_norm.weight", a.HeadDim),
        };
    }

    /// <summary>The delta rule over one (run of a sequence's tokens, value head) per unit; key head = value head mod key heads.</summary>
    private ref struct DeltaNetJob : IParallelJob
    {
        public DeltaNetSpec Spec;
        public ReadOnlySpan<(int First, int Count, int Slot)> Runs;
        public ReadOnlySpan<float> X, G, Beta;                                 // [N, channels], [N, n_v_heads] × 2
        public Span<float> Output;                                             // [N, value_dim]
        public RecurrentCache Recurrent;
        public int Layer;

        public readonly void Execute(int index)
        {
            var s = Spec;
            var (first, n, slot) = Runs[index / s.ValueHeads];
            int v = index % s.ValueHeads, k = v % s.KeyHeads;
            int channels = s.ConvChannels, keyDim = s.KeyHeads * s.HeadKeyDim, valueDim = s.ValueHeads * s.HeadValueDim;
            int headState = s.HeadKeyDim * s.HeadValueDim;
            var x = X.Slice(first * channels, n * channels);
            var head = new DeltaNetHead(s.HeadKeyDim, s.HeadValueDim,
                x[(k * s.HeadKeyDim)..], x[(keyDim + k * s.HeadKeyDim)..], x[(2 * keyDim + v * s.HeadValueDim)..], channels,
                G[(first * s.ValueHeads + v)..], Beta[(first * s.ValueHeads + v)..], s.ValueHeads,
                Output[(first * valueDim + v * s.HeadValueDim)..], valueDim);
            DeltaNet.Recurrent(n, head, Recurrent.Matrices(slot, Layer).Slice(v * headState, headState));
        }
    }

    /// <summary>A Gated DeltaNet layer's weights; the conv kernel tap-major [kernel, channels].</summary>
    private sealed record DeltaNetWeights(Weight Qkv, Weight Gate, Weight Beta, Weight Alpha, float[] DtBias, float[] A, float[] Conv, float[] Norm, Weight Output);

    private sealed record Layer(float[] AttentionNorm, DeltaNetWeights? DeltaNet, AttentionWeights? Attention, float[] PostAttentionNorm, ExpertWeights Experts);
}
