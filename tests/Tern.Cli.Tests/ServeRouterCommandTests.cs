using Tern.Cli.Hub;

namespace Tern.Cli.Tests;

/// <summary>`tern serve --models-dir/--models-preset/--models-max/--memory-budget`: router mode's flags and model list.</summary>
[Collection(nameof(HubEnvironment))]
public sealed class ServeRouterCommandTests : IDisposable
{
    private readonly string _models = Directory.CreateTempSubdirectory("tern-serve-models-").FullName;
    private readonly string _cache = Directory.CreateTempSubdirectory("tern-serve-cache-").FullName;

    public ServeRouterCommandTests()
    {
        Environment.SetEnvironmentVariable("TERN_MODELS", _cache);
        Environment.SetEnvironmentVariable("LLAMA_CACHE", _cache);
        File.CreateSymbolicLink(Path.Combine(_models, "stories.gguf"), SharedData.Path("models/stories260K.gguf"));
        File.CreateSymbolicLink(Path.Combine(_models, "big-00001-of-00002.gguf"), SharedData.Path("models/llama-tiny-q8_0.gguf"));
        File.CreateSymbolicLink(Path.Combine(_models, "big-00002-of-00002.gguf"), SharedData.Path("models/llama-tiny-q8_0.gguf"));
    }

    private static CachedModel Cached(string name, string path) => new(name, path, 1, "llama", 512, DateTime.UtcNow, false, null);

    [Fact]
    public void The_router_serves_the_directorys_models_then_the_cached_ones_each_name_once()
    {
        var models = ServeCommand.RouterModels(_models, null,
        [
            Cached("owner/tiny-GGUF:Q8_0", "/cache/owner/tiny-GGUF/tiny-Q8_0.gguf"),
            Cached("owner/split-GGUF:Q4_K_M", "/cache/owner/split-GGUF/split-Q4_K_M-00001-of-00002.gguf"),
            Cached("owner/split-GGUF:Q4_K_M", "/cache/owner/split-GGUF/split-Q4_K_M-00002-of-00002.gguf"),
            Cached("stories", "/cache/stories.gguf"),
        ]);

        Assert.Equal(["big", "stories", "owner/tiny-GGUF:Q8_0", "owner/split-GGUF:Q4_K_M"], models.Select(m => m.Name));
        Assert.Equal(Path.Combine(_models, "stories.gguf"), models[1].Path);
        Assert.EndsWith("-00001-of-00002.gguf", models[3].Path);
        Assert.Equal("cache", models[2].Source);
    }

    [Fact]
    public void A_preset_applies_to_the_list()
    {
        string preset = Path.Combine(_models, "presets.ini");
        File.WriteAllText(preset, "[stories]\nctx-size = 128\nparallel = 2\n");

        var stories = ServeCommand.RouterModels(_models, preset, []).Single(m => m.Name == "stories");

        Assert.Equal(128, stories.Settings.ContextPerSequence);
        Assert.Equal(2, stories.Settings.Parallel);
    }

    [Fact]
    public void A_bad_preset_stops_serve_with_the_file_line_and_key()
    {
        string preset = Path.Combine(_models, "presets.ini");
        File.WriteAllText(preset, "[stories]\nctx-size = 128\nthreads = 4\n");

        var (exitCode, _, stderr) = CliRunner.Run("serve", "--models-dir", _models, "--models-preset", preset);

        Assert.Equal(1, exitCode);
        Assert.Contains($"error: {preset}:3: 'threads' is not a preset key", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--models-max", "0", "--models-max must be between 1 and 1024, got 0")]
    [InlineData("--memory-budget", "lots", "--memory-budget must be a positive size such as 1G, 512M or a number of bytes, got 'lots'")]
    [InlineData("-m", "x.gguf", "--models-dir/--models-preset serve many models: leave out -m, -hf and --alias")]
    [InlineData("--alias", "x", "--models-dir/--models-preset serve many models: leave out -m, -hf and --alias")]
    public void Bad_router_flags_stop_serve_with_a_clear_error(string flag, string value, string expected)
    {
        var (exitCode, _, stderr) = CliRunner.Run("serve", "--models-dir", _models, flag, value);

        Assert.Equal(1, exitCode);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_empty_models_dir_is_an_error()
    {
        Assert.Contains("does not exist", CliRunner.Run("serve", "--models-dir", Path.Combine(_models, "nope")).Stderr, StringComparison.Ordinal);
        string empty = Directory.CreateTempSubdirectory("tern-empty-").FullName;
        Assert.Contains("no models to serve", CliRunner.Run("serve", "--models-dir", empty).Stderr, StringComparison.Ordinal);
        Directory.Delete(empty);
    }

    [Fact]
    public void Help_states_how_the_memory_budget_counts_a_model()
    {
        var (_, stdout, _) = CliRunner.Run("serve", "--help");

        Assert.Contains("--models-dir", stdout, StringComparison.Ordinal);
        Assert.Contains("file size + its KV cache + its recurrent state", System.Text.RegularExpressions.Regex.Replace(stdout, @"\s+", " "), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("TERN_MODELS", null);
        Environment.SetEnvironmentVariable("LLAMA_CACHE", null);
        Directory.Delete(_models, recursive: true);
        Directory.Delete(_cache, recursive: true);
    }
}
