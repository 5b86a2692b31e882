using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>A model whose experts are MXFP4 loads through the quant table, and a damaged MXFP4 tensor is refused by name.</summary>
public sealed class Mxfp4ModelTests : IDisposable
{
    private const string Model = "models/llama-moe-tiny-mxfp4.gguf";
    private readonly TempDirectory _temp = new();

    [Fact]
    public void Expert_tensors_load_as_mxfp4_beside_q8_0_attention()
    {
        using var model = DecoderModel.Load(SharedData.Path(Model));
        Assert.Equal(4, model.Config.ExpertCount);
        using var file = GgufFile.Open(SharedData.Path(Model));
        Assert.Equal(GgmlType.MXFP4, file.GetTensor("blk.0.ffn_up_exps.weight").Type);
        Assert.Equal(GgmlType.Q8_0, file.GetTensor("blk.0.attn_q.weight").Type);
    }

    [Fact]
    public void A_truncated_mxfp4_tensor_is_refused_naming_it()
    {
        // The file's last tensor is an MXFP4 expert stack; cut the file inside it.
        string source = SharedData.Path(Model);
        string path = _temp.File("truncated.gguf");
        var bytes = File.ReadAllBytes(source);
        File.WriteAllBytes(path, bytes[..^1000]);

        var e = Assert.Throws<GgufFormatException>(() => DecoderModel.Load(path));

        Assert.Contains("tensor 'blk.1.ffn_up_exps.weight' data", e.Message);
        Assert.Contains("runs past the end of the file", e.Message);
    }

    [Fact]
    public void An_mxfp4_expert_tensor_of_the_wrong_shape_is_refused_naming_it()
    {
        // One expert fewer, its data cut to match: a well-formed file whose experts disagree with expert_count.
        string path = ModelFiles.Rewrite(SharedData.Path(Model), _temp.File("experts.gguf"),
            tensor: t => t.Name == "blk.0.ffn_gate_exps.weight" ? (t.Name, [256, 768, 3]) : (t.Name, t.Dimensions),
            dataLength: name => name == "blk.0.ffn_gate_exps.weight" ? 3 * 768 * (256 / 32 * 17) : null);

        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));

        Assert.Contains("blk.0.ffn_gate_exps.weight", e.Message);
    }

    public void Dispose() => _temp.Dispose();
}
