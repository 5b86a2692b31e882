using Tern.Gguf;

namespace Tern.Models.Tests;

public sealed class ModelLoadTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private static string Source => SharedData.Path("models/llama-tiny-q4_0.gguf");

    [Theory]
    [InlineData("models/llama-tiny-q4_k_m.gguf", typeof(Llama), 0)]
    [InlineData("models/llama-moe-tiny-q8_0.gguf", typeof(Llama), 4)]
    [InlineData("models/qwen2-tiny-q8_0.gguf", typeof(Qwen2), 0)]
    [InlineData("models/bitnet-tiny-tq2_0.gguf", typeof(Bitnet), 0)]
    [InlineData("models/qwen3-tiny-q4_k_m.gguf", typeof(Qwen3), 0)]
    [InlineData("models/qwen3moe-tiny-q8_0.gguf", typeof(Qwen3Moe), 8)]
    public void Architecture_and_hyperparameters_come_from_metadata(string path, Type expected, int experts)
    {
        using var model = DecoderModel.Load(SharedData.Path(path));
        Assert.IsType(expected, model);
        var h = model.Config;
        Assert.Equal((256, 2, 4, 768, 1024, 64, experts), (h.EmbeddingLength, h.BlockCount, h.HeadCount, h.FeedForwardLength, h.VocabSize, h.HeadDim, h.ExpertCount));
    }

    [Theory]
    [InlineData("models/qwen3moe-tiny-q8_0.gguf", 256)] // expert_feed_forward_length
    [InlineData("models/llama-moe-tiny-q8_0.gguf", 768)] // no such key: the experts are feed_forward_length wide
    public void Experts_have_their_own_feed_forward_width(string path, int width)
    {
        using var model = DecoderModel.Load(SharedData.Path(path));
        Assert.Equal(width, model.Config.ExpertFeedForwardLength);
    }

    [Fact]
    public void Q4_0_linear_layers_are_repacked_and_the_embedding_table_is_not()
    {
        Weight[] repacked;
        using (var model = DecoderModel.Load(Source))
        {
            var q4_0 = model.File.Tensors.Where(t => t.Type == GgmlType.Q4_0 && t.Name != "token_embd.weight").Select(t => t.Name).ToList();
            Assert.NotEmpty(q4_0);
            repacked = [.. model.Weights.Repacked];
            var expected = model.File.TryGetTensor("output.weight", out _) ? q4_0 : [.. q4_0, "token_embd.weight"];
            Assert.Equal(expected.Order(), repacked.Select(w => w.Name).Order());
            Assert.All(repacked, w => Assert.True(w.IsRepacked, w.Name));
        }

        Assert.All(repacked, w => Assert.False(w.IsRepacked, $"{w.Name} still holds its repacked copy after Dispose"));
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        string path = ModelFiles.Rewrite(Source, _temp.File("missing.gguf"),
            tensor: t => t.Name == "blk.1.ffn_up.weight" ? null : (t.Name, t.Dimensions));
        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));
        Assert.Contains("blk.1.ffn_up.weight is missing", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_wrong_shape_is_named_with_the_expected_and_found_shapes()
    {
        // Swap the two dimensions of attn_output (same bytes, transposed shape).
        string path = ModelFiles.Rewrite(SharedData.Path("models/llama-tiny-f32.gguf"), _temp.File("shape.gguf"),
            tensor: t => t.Name == "blk.0.ffn_down.weight" ? (t.Name, [t.Dimensions[1], t.Dimensions[0]]) : (t.Name, t.Dimensions));
        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));
        Assert.Contains("blk.0.ffn_down.weight: expected shape [768, 256], found [256, 768]", e.Message);
    }

    [Fact]
    public void An_unsupported_architecture_is_named()
    {
        string path = ModelFiles.Rewrite(Source, _temp.File("arch.gguf"),
            metadata: new Dictionary<string, GgufValue> { ["general.architecture"] = GgufValue.From("mamba") });
        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));
        Assert.Contains("architecture 'mamba' is not supported", e.Message);
    }

    [Fact]
    public void Missing_hyperparameters_are_named()
    {
        using var file = GgufFile.Open(Source);
        var metadata = file.Metadata.Where(kv => kv.Key != "llama.block_count").ToDictionary();
        file.Dispose();
        var writer = new GgufWriter();
        foreach (var (key, value) in metadata)
            writer.Add(key, value);
        using (var original = GgufFile.Open(Source))
        {
            foreach (var t in original.Tensors)
                writer.AddTensor(t.Name, t.Dimensions, t.Type, original.GetTensorBytes(t).ToArray());
        }

        string path = _temp.File("hparams.gguf");
        writer.WriteFile(path);
        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));
        Assert.Contains("llama.block_count is missing", e.Message);
    }

    public void Dispose() => _temp.Dispose();
}
