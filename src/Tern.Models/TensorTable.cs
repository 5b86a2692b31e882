using Tern.Gguf;

namespace Tern.Models;

/// <summary>
/// Every tensor each architecture's file holds, with llama.cpp's names (its <c>llama-arch.cpp</c>) and ggml shapes,
/// derived from the model configuration layer by layer. The loader checks a file against it before building the
/// model (a missing or misshapen tensor is named); <c>tern synth</c> writes exactly these tensors.
/// </summary>
public static class TensorTable
{
    /// <summary>The file's tensors in file order: token_embd, each block in forward order, output_norm, output
    /// (unless tied to the embeddings).</summary>
    public static IEnumerable<TensorSpec> Tensors(ModelConfig c, bool tiedOutput)
    {
        long embd = c.EmbeddingLength;
        yield return new("token_embd.weight", [embd, c.VocabSize], TensorRole.TokenEmbedding, -1);    // [n_embd, n_vocab]
        foreach (var layer in c.Layers)
        {
            foreach (var t in Layer(c, layer))
                yield return t;
        }

        yield return new("output_norm.weight", [embd], TensorRole.Norm, -1);
        if (c.Architecture == "gemma4" && c.Layers.Select(l => l.Attention!.Rope.FreqFactors).OfType<float[]>().FirstOrDefault() is { } factors)
            yield return new("rope_freqs.weight", [factors.Length], TensorRole.RopeFactors, -1);               // global layers' RoPE divisors
        if (!tiedOutput)
            yield return new("output.weight", [embd, c.VocabSize], TensorRole.Output, -1);             // [n_embd, n_vocab]
    }

    /// <summary>Refuses a file that lacks a tensor of its architecture's table or holds one in another shape, naming
    /// it; output.weight may be absent (tied to the embeddings). Extra tensors are left alone, as llama.cpp does.</summary>
    public static void Check(GgufFile file, ModelConfig c)
    {
        bool tied = !file.TryGetTensor("output.weight", out _);
        foreach (var t in Tensors(c, tied))
        {
            if (!file.TryGetTensor(t.Name, out var info))
            {
                if (t.Optional)
                    continue;
                throw new ModelLoadException(file.Path, $"tensor {t.Name} is missing");
            }

            if (!info.Dimensions.SequenceEqual(t.Dimensions))
                throw new ModelLoadException(file.Path, $"{t.Name}: expected shape [{string.Join(", ", t.Dimensions)}], found {info.Shape}");
        }
    }

    private static IEnumerable<TensorSpec> Layer(ModelConfig c, LayerSpec l)
    {
        var b = new Block(c, l);
        return c.Architecture switch
        {
            "llama" => [b.Norm("attn_norm"), .. b.Attention(), b.Norm("ffn_norm"), .. b.FeedForward()],
            "qwen2" => [b.Norm("attn_norm"), .. b.Attention(bias: true), b.Norm("ffn_norm"), .. b.FeedForward()],
            "qwen3" or "qwen3moe" => [b.Norm("attn_norm"), .. b.Attention(qkNorm: true), b.Norm("ffn_norm"), .. b.FeedForward()],
            "bitnet" => [b.Norm("attn_norm"), .. b.Attention(subNorm: true), b.Norm("ffn_norm"), .. b.FeedForward(subNorm: true)],
            "gemma3" => [b.Norm("attn_norm"), .. b.Attention(qkNorm: true), b.Norm("post_attention_norm"), b.Norm("ffn_norm"), .. b.FeedForward(), b.Norm("post_ffw_norm")],
            "gemma4" => [b.Norm("attn_norm"), .. b.Attention(qkNorm: true, optionalValues: true), b.Norm("post_attention_norm"), .. b.Gemma4FeedForward(),
                b.T("layer_output_scale.weight", TensorRole.Norm, 1) with { Optional = true }],
            "qwen35moe" => [b.Norm("attn_norm"), .. l.DeltaNet is not null ? b.DeltaNet() : b.Attention(qkNorm: true, gatedQuery: true), b.Norm("post_attention_norm"), .. b.FeedForward()],
            _ => throw new ArgumentException($"no tensor table for architecture '{c.Architecture}'", nameof(c)),
        };
    }

    /// <summary>The tensors of one block, named blk.N.*.</summary>
    private readonly struct Block(ModelConfig c, LayerSpec l)
    {
        private readonly long _embd = c.EmbeddingLength;

        public TensorSpec T(string name, TensorRole role, params long[] dims) => new($"blk.{l.Index}.{name}", dims, role, l.Index);

        public TensorSpec Norm(string name, long? width = null) => T(name + ".weight", TensorRole.Norm, width ?? _embd);

        /// <summary>Self-attention: q, k, v (with biases, qwen2), per-head q/k norms, a sub-norm before the output
        /// (bitnet); a gated query holds a query and a gate per head (qwen35moe).</summary>
        public IEnumerable<TensorSpec> Attention(bool bias = false, bool qkNorm = false, bool subNorm = false, bool gatedQuery = false, bool optionalValues = false)
        {
            var a = l.Attention!;
            long q = a.QDim, kv = a.KvDim;
            yield return T("attn_q.weight", TensorRole.AttnQ, _embd, gatedQuery ? 2 * q : q);             // [n_embd, n_head·head_dim]
            if (bias)
                yield return T("attn_q.bias", TensorRole.Bias, q);
            yield return T("attn_k.weight", TensorRole.AttnK, _embd, kv);                                  // [n_embd, n_kv_head·head_dim]
            if (bias)
                yield return T("attn_k.bias", TensorRole.Bias, kv);
            yield return T("attn_v.weight", TensorRole.AttnV, _embd, kv) with { Optional = optionalValues }; // [n_embd, n_kv_head·head_dim]
            if (bias)
                yield return T("attn_v.bias", TensorRole.Bias, kv);
            if (qkNorm)
            {
                yield return Norm("attn_q_norm", a.HeadDim);                                                // one norm shared by every head
                yield return Norm("attn_k_norm", a.HeadDim);
            }

            if (subNorm)
                yield return Norm("attn_sub_norm", q);
            yield return T("attn_output.weight", TensorRole.AttnOutput, q, _embd);                         // [n_head·head_dim, n_embd]
        }

        /// <summary>A Gated DeltaNet mixer (qwen35moe).</summary>
        public IEnumerable<TensorSpec> DeltaNet()
        {
            var d = l.DeltaNet!;
            long inner = d.ValueHeads * d.HeadValueDim, heads = d.ValueHeads;
            yield return T("attn_qkv.weight", TensorRole.AttnQ, _embd, d.ConvChannels);                    // [n_embd, 2·n_k·d_k + inner]
            yield return T("attn_gate.weight", TensorRole.AttnQ, _embd, inner);                            // [n_embd, inner]
            yield return T("ssm_conv1d.weight", TensorRole.Ssm, d.ConvKernel, d.ConvChannels);             // [kernel, channels]
            yield return T("ssm_dt.bias", TensorRole.Ssm, heads);
            yield return T("ssm_a", TensorRole.SsmDecay, heads);
            yield return T("ssm_beta.weight", TensorRole.AttnK, _embd, heads);                             // [n_embd, n_v_heads]
            yield return T("ssm_alpha.weight", TensorRole.AttnK, _embd, heads);
            yield return Norm("ssm_norm", d.HeadValueDim);
            yield return T("ssm_out.weight", TensorRole.AttnOutput, inner, _embd);                         // [inner, n_embd]
        }

        /// <summary>gemma4's feed-forward: a dense GEGLU and, in MoE layers, fused gate+up experts beside it, each
        /// branch with its own norms, their sum normed again.</summary>
        public IEnumerable<TensorSpec> Gemma4FeedForward()
        {
            long ff = c.FeedForwardLength;
            yield return Norm("ffn_norm");
            yield return T("ffn_gate.weight", TensorRole.FfnGate, _embd, ff);                              // [n_embd, n_ff]
            yield return T("ffn_up.weight", TensorRole.FfnUp, _embd, ff);
            yield return T("ffn_down.weight", TensorRole.FfnDown, ff, _embd);                              // [n_ff, n_embd]
            if (l.FeedForward.HasFlag(FeedForwardKind.Experts))
            {
                long experts = c.ExpertCount, expertFf = c.ExpertFeedForwardLength;
                yield return Norm("post_ffw_norm_1");
                yield return T("ffn_gate_inp.weight", TensorRole.Router, _embd, experts);                  // [n_embd, n_expert]
                yield return T("ffn_gate_inp.scale", TensorRole.Norm, _embd);
                yield return Norm("pre_ffw_norm_2");
                yield return T("ffn_gate_up_exps.weight", TensorRole.FfnUp, _embd, 2 * expertFf, experts); // [n_embd, 2·n_ff_exp, n_expert]: gate, then up
                yield return T("ffn_down_exps.weight", TensorRole.FfnDown, expertFf, _embd, experts);      // [n_ff_exp, n_embd, n_expert]
                yield return T("ffn_down_exps.scale", TensorRole.Norm, experts) with { Optional = true };
                yield return Norm("post_ffw_norm_2");
            }

            yield return Norm("post_ffw_norm");
        }

        /// <summary>The layer's feed-forward: dense SwiGLU (with bitnet's sub-norm), or routed experts and a
        /// shared expert when the model has one.</summary>
        public IEnumerable<TensorSpec> FeedForward(bool subNorm = false)
        {
            long ff = c.FeedForwardLength;
            if (l.FeedForward.HasFlag(FeedForwardKind.Experts))
            {
                long experts = c.ExpertCount, expertFf = c.ExpertFeedForwardLength, shared = c.SharedExpertFeedForwardLength;
                yield return T("ffn_gate_inp.weight", TensorRole.Router, _embd, experts);                  // [n_embd, n_expert]
                yield return T("ffn_gate_exps.weight", TensorRole.FfnGate, _embd, expertFf, experts);      // [n_embd, n_ff_exp, n_expert]
                yield return T("ffn_up_exps.weight", TensorRole.FfnUp, _embd, expertFf, experts);          // [n_embd, n_ff_exp, n_expert]
                yield return T("ffn_down_exps.weight", TensorRole.FfnDown, expertFf, _embd, experts);      // [n_ff_exp, n_embd, n_expert]
                if (shared > 0)
                {
                    yield return T("ffn_gate_inp_shexp.weight", TensorRole.Bias, _embd);                   // [n_embd]: one gate row
                    yield return T("ffn_gate_shexp.weight", TensorRole.FfnGate, _embd, shared);
                    yield return T("ffn_up_shexp.weight", TensorRole.FfnUp, _embd, shared);
                    yield return T("ffn_down_shexp.weight", TensorRole.FfnDown, shared, _embd);
                }

                yield break;
            }

            yield return T("ffn_gate.weight", TensorRole.FfnGate, _embd, ff);                              // [n_embd, n_ff]
            yield return T("ffn_up.weight", TensorRole.FfnUp, _embd, ff);                                  // [n_embd, n_ff]
            if (subNorm)
                yield return Norm("ffn_sub_norm", ff);
            yield return T("ffn_down.weight", TensorRole.FfnDown, ff, _embd);                              // [n_ff, n_embd]
        }
    }
}
