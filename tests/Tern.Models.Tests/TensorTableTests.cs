using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>The tensor table against files written by llama.cpp's converters: every tensor it lists is there in
/// that shape, and the files hold nothing else; a missing or misshapen one is refused by name.</summary>
public sealed class TensorTableTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public static TheoryData<string> Models() => new(Directory.GetFiles(SharedData.Path("models"), "*.gguf")
        .Where(IsRunnable).Select(f => "models/" + Path.GetFileName(f)).Order(StringComparer.Ordinal));

    private static bool IsRunnable(string path)
    {
        using var file = GgufFile.Open(path);
        return file.GetString("general.architecture") is { } a && Array.IndexOf(["llama", "qwen2", "bitnet", "qwen3", "qwen3moe", "gemma3", "gemma4", "qwen35moe"], a) >= 0
            && file.TryGetTensor("token_embd.weight", out _);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void The_table_lists_exactly_the_tensors_of_a_converted_file(string model)
    {
        using var file = GgufFile.Open(SharedData.Path(model));
        var config = ModelConfig.FromGguf(file);
        // Optional tensors (gemma4's per-expert scales, per-layer output scales) only where the file has them.
        var table = TensorTable.Tensors(config, tiedOutput: !file.TryGetTensor("output.weight", out _))
            .Where(t => !t.Optional || file.TryGetTensor(t.Name, out _)).ToList();
        Assert.Equal(file.Tensors.Select(t => t.Name).Order(), table.Select(t => t.Name).Order());
        foreach (var t in table)
            Assert.Equal(t.Dimensions, file.GetTensor(t.Name).Dimensions);
    }

    [Fact]
    public void A_tensor_of_the_wrong_shape_is_refused_by_name()
    {
        string path = ModelFiles.Rewrite(SharedData.Path("models/qwen35moe-tiny-q8_0.gguf"), _temp.File("shape.gguf"),
            tensor: t => t.Name == "blk.2.ssm_norm.weight" ? (t.Name, [16L, 2]) : (t.Name, t.Dimensions));
        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));
        Assert.Contains("blk.2.ssm_norm.weight: expected shape [32]", e.Message);
    }

    public void Dispose() => _temp.Dispose();
}
