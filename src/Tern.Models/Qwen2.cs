using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>qwen2: the llama block with biases on the q, k and v projections and NeoX-style RoPE (halves rotated).</summary>
public sealed class Qwen2 : Llama
{
    // The tensor table requires the biases, so every layer has them.
    internal Qwen2(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, h, options)
    {
    }

    protected override RopeStyle RopeStyle => RopeStyle.NeoX;
}
