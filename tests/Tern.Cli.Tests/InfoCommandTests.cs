using Tern.Gguf;

namespace Tern.Cli.Tests;

public class InfoCommandTests
{
    [Fact]
    public void Info_lists_metadata_and_every_tensor_with_type_and_shape()
    {
        string path = SharedData.Path("models/llama-tiny-q4_k_m.gguf");
        var (code, stdout, stderr) = CliRunner.Run("info", path);

        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Contains("general.architecture", stdout);
        Assert.Contains("llama", stdout);
        using var gguf = GgufFile.Open(path);
        foreach (var t in gguf.Tensors)
            Assert.Contains($"{t.Name}  ", stdout);
        Assert.Contains("Q4_K", stdout);
        Assert.Contains("[256, 1024]", stdout);
    }

    [Fact]
    public void Info_without_a_file_shows_the_embedded_default_model()
    {
        var (code, stdout, _) = CliRunner.Run("info");

        Assert.Equal(0, code);
        Assert.Contains("stories260K.gguf", stdout);
        Assert.Contains("292,800 parameters", stdout);
        Assert.Contains("blk.4.ffn_down.weight", stdout);
    }

    [Theory]
    [InlineData("models/llama-moe-tiny-q8_0.gguf", "model: llama, 2 layers, n_embd 256, 4 heads (2 KV), n_ff 768, 4 experts (2 used), vocab 1024, context 4096", "temp 0.8")]
    [InlineData("models/qwen2-tiny-q8_0.gguf", "model: qwen2, 2 layers", "temp 0.7")]
    public void Info_summarises_the_model_its_size_template_and_default_sampling(string file, string summary, string temperature)
    {
        string path = SharedData.Path(file);
        var (code, stdout, _) = CliRunner.Run("info", path);
        Assert.Equal(0, code);
        Assert.Contains(summary, stdout);
        Assert.Matches(@"size: [\d,]+ parameters \([\d.]+ M\), [\d.]+ MiB on disk", stdout);
        Assert.Contains("chat template: none", stdout);
        Assert.Contains($"default sampling: {temperature}, top-k 40, top-p 0.95, min-p 0.05, repeat-penalty 1.0", stdout);
    }

    /// <summary>Per session: 512 B of F16 keys and values per token in each full-attention layer (2 KV heads of 64),
    /// a sliding layer at most its window (32) and a block more, and qwen35moe's recurrent state (3 layers of
    /// 3 × 256 conv floats and 4 × 32 × 32 matrix floats = 57 KiB).</summary>
    [Theory]
    [InlineData("models/qwen35moe-tiny-q8_0.gguf", "layers: 3 × Gated DeltaNet, 4 value heads (2 key) of 32; 1 × full attention, 4 heads (2 KV) of 64",
        "memory per session (F16 KV): 8k 4.06 MiB, 32k 16.06 MiB, 128k 64.06 MiB, 200k 100.06 MiB (KV grows 512 B per token, recurrent state 57.0 KiB)")]
    [InlineData("models/gemma3-tiny-q8_0.gguf", "layers: 5 × sliding-window attention (32), 4 heads (2 KV) of 64; 1 × full attention, 4 heads (2 KV) of 64",
        "memory per session (F16 KV): 8k 4.16 MiB, 32k 16.16 MiB, 128k 64.16 MiB, 200k 100.16 MiB (KV grows 512 B per token)")]
    public void Info_shows_the_layer_mix_and_the_memory_a_session_holds(string file, string layers, string memory)
    {
        var (code, stdout, _) = CliRunner.Run("info", SharedData.Path(file));
        Assert.Equal(0, code);
        Assert.Contains(layers, stdout);
        Assert.Contains(memory, stdout);
    }

    [Fact]
    public void Info_notes_a_chat_template_and_a_vocabulary_only_file()
    {
        var (code, stdout, _) = CliRunner.Run("info", SharedData.Path("tokenizer/ggml-vocab-qwen2.gguf"));
        Assert.Equal(0, code);
        Assert.Contains("model: not runnable", stdout);
        Assert.Matches(@"chat template: yes \([\d,]+ chars\)", stdout);
    }

    [Fact]
    public void Info_on_a_file_that_is_not_gguf_prints_one_line_naming_file_and_offset()
    {
        string path = System.IO.Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "definitely not a model file");
            var (code, stdout, stderr) = CliRunner.Run("info", path);

            Assert.Equal(1, code);
            Assert.Equal("", stdout);
            Assert.Equal($"error: {path}: at byte 0: bad magic 0x69666564: not a GGUF file (expected \"GGUF\")", stderr.TrimEnd());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Info_on_a_missing_file_is_a_one_line_error()
    {
        var (code, _, stderr) = CliRunner.Run("info", "/nonexistent/model.gguf");

        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("/nonexistent/model.gguf", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }
}
