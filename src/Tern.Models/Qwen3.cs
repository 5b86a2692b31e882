using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// qwen3: the llama block with an RMS norm on each query and key head before RoPE (<c>attn_q_norm</c>,
/// <c>attn_k_norm</c>, head_dim wide), NeoX-style RoPE, and a head size of its own (<c>attention.key_length</c>)
/// rather than n_embd / n_head.
/// </summary>
public class Qwen3 : Llama
{
    // The tensor table requires the Q/K norms, so every layer has them.
    internal Qwen3(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, h, options)
    {
    }

    protected override RopeStyle RopeStyle => RopeStyle.NeoX;
}
