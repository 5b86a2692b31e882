using Tern.Gguf;

namespace Tern.Cli.Tests;

/// <summary>A model file with a hostile hyperparameter (issue 11): `tern run` refuses it in one line naming the key
/// and value, exiting 1, and `tern info` still shows the file, saying why it cannot run.</summary>
public sealed class HostileModelFileTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    [Theory]
    [InlineData("llama.block_count", 2147483647u, "llama.block_count = 2147483647")]
    [InlineData("llama.rope.freq_base", float.NaN, "llama.rope.freq_base = NaN")]
    [InlineData("llama.attention.key_length", 2147483647u, "llama.attention.key_length = 2147483647")]
    public void Run_and_info_name_the_bad_key_and_value(string key, object value, string named)
    {
        string path = Rewrite(key, value is float f ? GgufValue.From(f) : GgufValue.From((uint)value));

        var (code, stdout, stderr) = CliRunner.Run("run", "-m", path, "-p", "hi", "-n", "4");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith($"error: {path}: {named}: ", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));

        (code, stdout, _) = CliRunner.Run("info", path);
        Assert.Equal(0, code);
        Assert.Contains($"model: not runnable ({named}: ", stdout);
    }

    [Fact]
    public void Info_says_why_a_file_of_another_layout_cannot_run()
    {
        // head_count_kv per layer, as an array (gemma4's layout) in a llama file: a clear reason, not an invalid cast
        string path = Rewrite("llama.attention.head_count_kv", GgufValue.From(new GgufArray(GgufValueType.Int32, new[] { 2, 2 })));
        var (code, stdout, stderr) = CliRunner.Run("info", path);

        Assert.True(code == 0, stderr);
        Assert.Contains("model: not runnable (llama.attention.head_count_kv = [2 items]: expected an integer, found an array of Int32)", stdout);
    }

    [Fact]
    public void A_huge_trained_context_does_not_size_the_kv_cache()
    {
        // the KV cache is reserved for the context run uses: the trained length capped at 4096 unless -c asks
        string path = Rewrite("llama.context_length", GgufValue.From((uint)int.MaxValue));

        var (code, _, stderr) = CliRunner.Run("run", "-m", path, "-p", "hi", "-n", "2", "--seed", "1");

        Assert.True(code == 0, stderr);
        Assert.Contains("generation: 2 tokens", stderr);
    }

    /// <summary>A copy of the tiny llama with one metadata value replaced or added.</summary>
    private string Rewrite(string key, GgufValue value) =>
        Tern.Models.Tests.ModelFiles.Rewrite(SharedData.Path("models/llama-tiny-f32.gguf"), _temp.File("bad.gguf"),
            new Dictionary<string, GgufValue> { [key] = value });

    public void Dispose() => _temp.Dispose();
}
