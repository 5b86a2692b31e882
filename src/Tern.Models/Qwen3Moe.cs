using Tern.Gguf;

namespace Tern.Models;

/// <summary>
/// qwen3moe: the qwen3 block with every feed-forward a Mixture-of-Experts: router softmax over all experts, the top
/// <c>expert_used_count</c> with their weights renormalized to sum to 1, each expert a SwiGLU of width
/// <c>expert_feed_forward_length</c>.
/// </summary>
public sealed class Qwen3Moe : Qwen3
{
    internal Qwen3Moe(GgufFile file, ModelConfig h, ModelOptions options)
        : base(file, RequireExperts(file, h), options)
    {
    }

    private static ModelConfig RequireExperts(GgufFile file, ModelConfig h) => h.ExpertCount > 0
        ? h
        : throw new ModelLoadException(file.Path, "qwen3moe.expert_count is missing: qwen3moe needs experts in every block");
}
