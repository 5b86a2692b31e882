namespace Tern.Models.Tests;

/// <summary>What qwen35moe reads from its file: the hybrid layer mix and the DeltaNet and shared-expert shapes.</summary>
public sealed class Qwen35MoeTests
{
    [Fact]
    public void Three_layers_in_four_are_gated_deltanet_and_every_fourth_attends()
    {
        using var model = Assert.IsType<Qwen35Moe>(DecoderModel.Load(SharedData.Path("models/qwen35moe-tiny-q8_0.gguf")));
        var layers = model.Config.Layers;
        Assert.Equal([true, true, true, false], layers.Select(l => l.DeltaNet is not null));
        Assert.Equal(new DeltaNetSpec(ConvKernel: 4, KeyHeads: 2, ValueHeads: 4, HeadKeyDim: 32, HeadValueDim: 32), layers[0].DeltaNet);
        Assert.Equal(new AttentionSpec(4, 2, 64, new RopeSpec(16, 1e7f), Window: 0), layers[3].Attention);
        Assert.All(layers, l => Assert.Equal(FeedForwardKind.Experts, l.FeedForward));
        Assert.Equal((8, 2, 128, 128), (model.Config.ExpertCount, model.Config.ExpertUsedCount, model.Config.ExpertFeedForwardLength, model.Config.SharedExpertFeedForwardLength));

        // One KV group for the attention layer, a recurrent slot per sequence for the three others.
        using var state = model.CreateState(64, sequences: 2);
        Assert.Equal([3], Assert.Single(state.Groups).Layers);
        Assert.Equal(3, state.Recurrent!.Layers);
        Assert.Equal(3 * (3 * 256 + 4 * 32 * 32) * 4L, state.Recurrent.SlotBytes);
    }
}
