using Tern.Gguf;
using Tern.Models.Tests;

namespace Tern.Cli.Tests;

/// <summary>A file's general.sampling.* recommendation is what `tern run` starts from and `tern info` shows;
/// command-line flags still win, and an unusable value is one line naming the key.</summary>
public sealed class RecommendedSamplingCliTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Info_and_run_use_the_recommended_sampling_and_flags_override_it()
    {
        string path = Copy(new()
        {
            ["general.sampling.temp"] = GgufValue.From(0.6f),
            ["general.sampling.top_k"] = GgufValue.From(20),
            ["general.sampling.top_p"] = GgufValue.From(0.9f),
            ["general.sampling.min_p"] = GgufValue.From(0f),
            ["general.sampling.penalty_repeat"] = GgufValue.From(1.05f),
            ["general.sampling.penalty_last_n"] = GgufValue.From(128),
        });
        const string recommended = "temp 0.6, top-k 20, top-p 0.9, min-p off, repeat-penalty 1.05, repeat-last-n 128";

        var (code, stdout, stderr) = CliRunner.Run("info", path);
        Assert.True(code == 0, stderr);
        Assert.Contains($"default sampling: {recommended} (recommended by the file)", stdout);

        (code, _, stderr) = CliRunner.Run("run", "-m", path, "-p", "hi", "-n", "2", "--seed", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains($"sampling: {recommended}, seed 1", stderr);

        (code, _, stderr) = CliRunner.Run("run", "-m", path, "-p", "hi", "-n", "2", "--seed", "1", "--temp", "0", "--top-k", "5", "--min-p", "0.1", "--repeat-penalty", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("sampling: temp 0 (greedy), top-k 5, top-p 0.9, min-p 0.1, repeat-penalty 1.0, seed 1", stderr);
    }

    [Fact]
    public void An_unusable_recommendation_is_one_line_naming_the_key()
    {
        string path = Copy(new() { ["general.sampling.top_p"] = GgufValue.From(1.5f) });
        const string problem = "metadata 'general.sampling.top_p' is 1.5; it must be in (0, 1] (1 = off)";

        var (code, stdout, stderr) = CliRunner.Run("run", "-m", path, "-p", "hi", "-n", "2");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: {path}: {problem}", stderr.TrimEnd());

        (code, stdout, _) = CliRunner.Run("info", path);
        Assert.Equal(0, code);
        Assert.Contains($"default sampling: not usable ({problem})", stdout);
    }

    private string Copy(Dictionary<string, GgufValue> metadata) =>
        ModelFiles.Rewrite(SharedData.Path("models/qwen2-tiny-f32.gguf"), _temp.File($"{Guid.NewGuid():N}.gguf"), metadata);
}
