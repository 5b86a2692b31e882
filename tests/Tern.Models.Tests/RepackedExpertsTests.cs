using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>3-D expert tensors of a type with a repacked layout are repacked per expert at load, like linear layers.</summary>
public sealed class RepackedExpertsTests
{
    [Theory]
    [InlineData("models/llama-moe-tiny-q4_k_m.gguf")]
    [InlineData("models/qwen3moe-tiny-q4_k_m.gguf")]
    public void Q4_K_expert_tensors_are_repacked_and_released_on_dispose(string path)
    {
        Weight[] experts;
        using (var model = DecoderModel.Load(SharedData.Path(path)))
        {
            var q4k = model.File.Tensors.Where(t => t.Type == GgmlType.Q4_K && t.Name.Contains("_exps.")).Select(t => t.Name).ToList();
            Assert.NotEmpty(q4k);
            experts = [.. model.Weights.Repacked.Where(w => w.Experts > 1)];
            Assert.Equal(q4k.Order(), experts.Select(w => w.Name).Order());
            Assert.All(experts, w => Assert.True(w.IsRepacked, w.Name));
        }

        Assert.All(experts, w => Assert.False(w.IsRepacked, $"{w.Name} still holds its repacked copy after Dispose"));
    }
}
