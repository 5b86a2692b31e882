using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>What gemma4 reads from its file beyond the common hyperparameters.</summary>
public sealed class Gemma4Tests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private static string Source => SharedData.Path("models/gemma4-tiny-q8_0.gguf");

    [Fact]
    public void Sliding_and_global_layers_have_their_own_heads_head_sizes_and_rope()
    {
        using var model = Assert.IsType<Gemma4>(DecoderModel.Load(Source));
        var layers = model.Config.Layers.Select(l => l.Attention!).ToArray();
        Assert.Equal([true, true, true, true, true, false], layers.Select(a => a.Sliding));
        Assert.Equal([2, 2, 2, 2, 2, 1], layers.Select(a => a.KvHeads));
        Assert.Equal([64, 64, 64, 64, 64, 128], layers.Select(a => a.HeadDim));
        Assert.All(layers, a => Assert.Equal(4, a.Heads));
        Assert.Equal((64, 1e4f, 32), (layers[0].Rope.Dims, layers[0].Rope.Base, layers[0].Window));
        Assert.Equal((128, 1e6f, 0), (layers[5].Rope.Dims, layers[5].Rope.Base, layers[5].Window));
        Assert.All(model.Config.Layers, l => Assert.Equal(FeedForwardKind.DenseAndExperts, l.FeedForward));
    }

    [Fact]
    public void Frequency_factors_apply_to_global_layers_only_as_one_shared_rope_setting()
    {
        using var model = DecoderModel.Load(Source);
        var ropes = model.Config.Layers.Select(l => l.Attention!.Rope).ToArray();
        Assert.All(ropes[..5], r => Assert.Null(r.FreqFactors));
        var factors = ropes[5].FreqFactors!;
        Assert.Equal(64, factors.Length);
        Assert.Equal(Enumerable.Repeat(1f, 16).Concat(Enumerable.Repeat(1e30f, 48)), factors);
        Assert.Single(ropes[..5].Distinct()); // the five sliding layers share one setting, the global layer has its own
        Assert.Equal(2, ropes.Distinct().Count());
    }

    [Fact]
    public void The_sliding_rope_base_defaults_to_the_global_one()
    {
        string path = ModelFiles.Rewrite(Source, _temp.File("base.gguf"), tensor: t => (t.Name, t.Dimensions),
            metadata: null, drop: ["gemma4.rope.freq_base_swa"]);

        using var model = DecoderModel.Load(path);
        Assert.Equal(1e6f, model.Config.Layers[0].Attention!.Rope.Base);
    }

    [Fact]
    public void Logits_are_soft_capped_at_30_or_where_the_file_says()
    {
        string path = ModelFiles.Rewrite(Source, _temp.File("cap.gguf"), new Dictionary<string, GgufValue>
        {
            ["gemma4.final_logit_softcapping"] = GgufValue.From(0.5f),
        });

        using var plain = DecoderModel.Load(Source);
        using var capped = DecoderModel.Load(path);
        Assert.Equal(30f, plain.Config.FinalLogitSoftcap); // the tiny file sets none: llama.cpp's default
        Assert.Equal(0.5f, capped.Config.FinalLogitSoftcap);
        float[] a = Logits(plain), b = Logits(capped);
        Assert.True(a.Max(Math.Abs) > 0.5f);
        Assert.All(b, x => Assert.InRange(x, -0.5f, 0.5f));
        for (int i = 0; i < a.Length; i++)
        {
            // both caps applied to the same raw logits: 0.5·tanh(x/0.5), x = 30·atanh(a/30)
            float raw = 30f * MathF.Atanh(a[i] / 30f);
            Assert.Equal(0.5f * MathF.Tanh(raw * 2f), b[i], 1e-5f);
        }
    }

    [Fact]
    public void A_layer_without_attn_v_takes_its_values_from_the_key_projection()
    {
        // attn_v replaced by a copy of attn_k (same shape and type) gives the same logits as no attn_v at all
        string copied = ModelFiles.Rewrite(Source, _temp.File("copy.gguf"), dataOf: name => name == "blk.5.attn_v.weight" ? "blk.5.attn_k.weight" : name);
        string dropped = ModelFiles.Rewrite(Source, _temp.File("kv.gguf"), tensor: t => t.Name == "blk.5.attn_v.weight" ? null : (t.Name, t.Dimensions));

        using var a = DecoderModel.Load(copied);
        using var b = DecoderModel.Load(dropped);
        using var original = DecoderModel.Load(Source);
        Assert.Equal(Logits(a), Logits(b));
        Assert.NotEqual(Logits(original), Logits(b));
    }

    [Theory]
    [InlineData("blk.2.attn_k_norm.weight", "tensor blk.2.attn_k_norm.weight is missing")]
    [InlineData("blk.4.ffn_gate_inp.scale", "tensor blk.4.ffn_gate_inp.scale is missing")]
    [InlineData("blk.1.post_ffw_norm_2.weight", "blk.1.post_ffw_norm_2.weight")]
    public void A_gemma4_without_a_tensor_it_needs_is_refused(string dropped, string named)
    {
        string path = ModelFiles.Rewrite(Source, _temp.File("drop.gguf"), tensor: t => t.Name == dropped ? null : (t.Name, t.Dimensions));

        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));

        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Bad_frequency_factors_are_refused()
    {
        string path = ModelFiles.Rewrite(Source, _temp.File("freqs.gguf"), tensor: t => t.Name == "rope_freqs.weight" ? null : (t.Name, t.Dimensions));
        using (var model = DecoderModel.Load(path))
            Assert.Null(model.Config.Layers[5].Attention!.Rope.FreqFactors); // absent: plain RoPE

        string shortened = ModelFiles.Rewrite(Source, _temp.File("short.gguf"), tensor: t => t.Name == "rope_freqs.weight" ? ("rope_freqs.weight", [32]) : (t.Name, t.Dimensions),
            dataLength: name => name == "rope_freqs.weight" ? 32 * sizeof(float) : null);
        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(shortened));
        Assert.Contains("rope_freqs.weight has shape [32]; expected [64]", e.Message);
    }

    private static float[] Logits(DecoderModel model) => PromptLogits.Of(model, [1, 651, 344, 173, 170, 299, 432, 172]);

    public void Dispose() => _temp.Dispose();
}
