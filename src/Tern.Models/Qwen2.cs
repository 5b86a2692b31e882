using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>qwen2: the llama block with biases on the q, k and v projections and NeoX-style RoPE (halves rotated).</summary>
public sealed class Qwen2 : Llama
{
    internal Qwen2(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, h, options)
    {
        for (int i = 0; i < Layers.Count; i++)
        {
            var a = Layers[i].Attention;
            if (a.QBias is null || a.KBias is null || a.VBias is null)
                throw new ModelLoadException(file.Path, $"qwen2 needs blk.{i}.attn_q.bias, attn_k.bias and attn_v.bias");
        }
    }

    protected override RopeStyle RopeStyle => RopeStyle.NeoX;
}
