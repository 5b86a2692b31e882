using System.Text.Json;

namespace Tern.Cli.Tests;

public class TokenizeCommandTests
{
    [Theory]
    [InlineData("llama-tiny-f32.p1")]
    [InlineData("qwen2-tiny-f32.p1")]
    [InlineData("stories260K.p1")]
    public void Tokenize_prints_the_ids_llama_cpp_produced_for_the_golden_prompt(string golden)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(SharedData.Path($"golden/{golden}.json")));
        string model = SharedData.Path(json.RootElement.GetProperty("model").GetString()!);
        string prompt = json.RootElement.GetProperty("prompt").GetString()!;
        var expected = json.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32());

        var (code, stdout, stderr) = CliRunner.Run("tokenize", "-m", model, "-p", prompt);

        Assert.Equal("", stderr);
        Assert.Equal(0, code);
        Assert.Equal(string.Join(' ', expected), stdout.TrimEnd('\n'));
    }

    [Fact]
    public void No_bos_leaves_out_the_bos_token()
    {
        string model = SharedData.Path("models/llama-tiny-f32.gguf");
        var (_, withBos, _) = CliRunner.Run("tokenize", "-m", model, "-p", "Hello world");
        var (code, withoutBos, _) = CliRunner.Run("tokenize", "-m", model, "-p", "Hello world", "--no-bos");

        Assert.Equal(0, code);
        Assert.StartsWith("1 ", withBos);
        Assert.Equal(withBos.TrimEnd()[2..], withoutBos.TrimEnd());
    }

    [Fact]
    public void Tokenize_without_a_prompt_is_a_usage_error()
    {
        var (code, _, stderr) = CliRunner.Run("tokenize", "-m", SharedData.Path("models/llama-tiny-f32.gguf"));

        Assert.NotEqual(0, code);
        Assert.Contains("--prompt", stderr);
    }
}
