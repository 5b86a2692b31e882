using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>What gemma3 reads from its file beyond the common hyperparameters.</summary>
public sealed class Gemma3Tests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private static string Source => SharedData.Path("models/gemma3-tiny-q8_0.gguf");

    [Fact]
    public void Five_layers_in_six_slide_with_their_own_rope_base()
    {
        using var model = Assert.IsType<Gemma3>(DecoderModel.Load(Source));
        var h = model.Config;
        Assert.Equal((6, 32, 10000f, 1e6f, 64), (h.BlockCount, h.SlidingWindow, h.RopeFreqBaseSwa, h.RopeFreqBase, h.HeadDim));
        Assert.Equal([true, true, true, true, true, false], Enumerable.Range(0, 6).Select(model.IsSliding));
    }

    [Fact]
    public void The_files_pattern_and_sliding_rope_base_win()
    {
        string path = ModelFiles.Rewrite(Source, _temp.File("pattern.gguf"), new Dictionary<string, GgufValue>
        {
            ["gemma3.attention.sliding_window_pattern"] = GgufValue.From(2u),
            ["gemma3.rope.freq_base_swa"] = GgufValue.From(5000f),
        });

        using var model = Assert.IsType<Gemma3>(DecoderModel.Load(path));
        Assert.Equal([true, false, true, false, true, false], Enumerable.Range(0, 6).Select(model.IsSliding));
        Assert.Equal(5000f, model.Config.RopeFreqBaseSwa);
    }

    [Fact]
    public void A_gemma3_without_its_key_norms_is_refused()
    {
        string path = ModelFiles.Rewrite(Source, _temp.File("norms.gguf"),
            tensor: t => t.Name == "blk.3.attn_k_norm.weight" ? null : (t.Name, t.Dimensions));

        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));

        Assert.Contains("tensor blk.3.attn_k_norm.weight is missing", e.Message);
    }

    public void Dispose() => _temp.Dispose();
}
