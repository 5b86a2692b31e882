using Tern.Gguf;
using Tern.Tokenizers;

namespace Tern.Models.Tests;

/// <summary>A model split over several files (as gguf-split writes them) loads as one, and loading reports its progress.</summary>
public sealed class SplitModelTests : IDisposable
{
    private const string Prompt = "Once upon a time there was a split model.";
    private readonly TempDirectory _temp = new();

    private IReadOnlyList<string> Split(string path, int tensorsPerPart)
    {
        using var source = GgufFile.Open(SharedData.Path(path));
        return GgufSplit.Write(source, _temp.File(Path.GetFileNameWithoutExtension(path)), tensorsPerPart);
    }

    private static float[] Logits(string path)
    {
        using var model = DecoderModel.Load(path);
        return PromptLogits.Of(model, Tokenizer.FromGguf(model.File).Encode(Prompt));
    }

    [Theory]
    [InlineData("models/llama-tiny-q4_0.gguf")]
    [InlineData("models/qwen35moe-tiny-q4_k_m.gguf")]
    [InlineData("models/gemma4-tiny-q8_0.gguf")]
    public void A_split_model_gives_the_same_logits_as_the_single_file(string path)
    {
        var parts = Split(path, tensorsPerPart: 7);

        var whole = Logits(SharedData.Path(path));

        Assert.True(parts.Count >= 3, $"{parts.Count} parts");
        Assert.Equal(whole, Logits(parts[0]));
        Assert.Equal(whole, Logits(parts[^1])); // any part finds the others
    }

    [Fact]
    public void The_model_file_is_the_first_part_with_the_metadata_and_every_tensor()
    {
        var parts = Split("models/llama-tiny-q8_0.gguf", tensorsPerPart: 5);
        using var single = GgufFile.Open(SharedData.Path("models/llama-tiny-q8_0.gguf"));

        using var model = DecoderModel.Load(parts[1]);

        Assert.Equal(parts[0], model.File.Path);
        Assert.Equal(parts, model.File.Parts.Select(p => p.Path));
        Assert.Equal(single.GetString("tokenizer.ggml.model"), model.File.GetString("tokenizer.ggml.model"));
        Assert.Equal(single.Tensors.Select(t => t.Name), model.File.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void A_missing_part_is_an_error_naming_the_file()
    {
        var parts = Split("models/llama-tiny-q8_0.gguf", tensorsPerPart: 5);
        File.Delete(parts[2]);

        var e = Assert.Throws<FileNotFoundException>(() => DecoderModel.Load(parts[0]));

        Assert.Contains($"part 3 of {parts.Count} of this split model is missing: {parts[2]} does not exist", e.Message);
    }

    [Theory]
    [InlineData("models/llama-tiny-q4_0.gguf", true)]
    [InlineData("models/llama-tiny-q4_0.gguf", false)]
    [InlineData("models/llama-moe-tiny-q4_k_m.gguf", true)]
    [InlineData("models/qwen35moe-tiny-q8_0.gguf", true)]
    [InlineData("models/gemma4-tiny-q4_k_m.gguf", true)]
    [InlineData("models/gemma3-tiny-q8_0.gguf", true)]
    [InlineData("models/bitnet-tiny-tq2_0.gguf", true)]
    [InlineData("models/llama-tiny-f32.gguf", true)]
    public void Loading_reports_monotonic_progress_that_ends_with_every_matrix_repacked(string path, bool repack)
    {
        var seen = new List<LoadProgress>();

        using var model = DecoderModel.Load(SharedData.Path(path), new ModelOptions { Repack = repack, Progress = seen.Add });

        Assert.NotEmpty(seen);
        Assert.All(seen, p => Assert.Equal((SharedData.Path(path), 1, new FileInfo(SharedData.Path(path)).Length), (p.Path, p.Parts, p.Bytes)));
        Assert.Equal(0, seen[0].Repacked);
        Assert.All(seen.Zip(seen.Skip(1)), pair => Assert.Equal(pair.First.Repacked + 1, pair.Second.Repacked));
        Assert.All(seen, p => Assert.Equal(model.Weights.Repacked.Count, p.ToRepack));
        Assert.Equal(seen[^1].ToRepack, seen[^1].Repacked);
        if (repack && !path.Contains("f32"))
            Assert.True(seen[^1].ToRepack > 0, "nothing repacked");
    }

    [Fact]
    public void A_split_model_reports_its_parts_and_their_bytes()
    {
        var parts = Split("models/llama-tiny-q4_0.gguf", tensorsPerPart: 8);
        LoadProgress? last = null;

        using var model = DecoderModel.Load(parts[0], new ModelOptions { Progress = p => last = p });

        Assert.Equal((parts[0], parts.Count, parts.Sum(p => new FileInfo(p).Length)), (last!.Path, last.Parts, last.Bytes));
    }

    public void Dispose() => _temp.Dispose();
}
