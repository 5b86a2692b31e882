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
