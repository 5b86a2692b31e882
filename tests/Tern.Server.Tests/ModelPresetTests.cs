namespace Tern.Server.Tests;

/// <summary>--models-preset: llama-server's INI file of per-model settings.</summary>
public sealed class ModelPresetTests : IDisposable
{
    private readonly string _directory = RouterServer.CreateDirectory();

    private string Preset(string text)
    {
        string file = Path.Combine(_directory, "models.ini");
        File.WriteAllText(file, text);
        return file;
    }

    private IReadOnlyList<ModelEntry> Apply(string text) => ModelPresets.Apply(ModelCatalog.FromDirectory(_directory), Preset(text));

    [Fact]
    public async Task A_preset_sets_context_parallel_kv_types_and_sampling_per_model_adds_models_and_renames_them()
    {
        string extra = Path.Combine(_directory, "elsewhere");
        Directory.CreateDirectory(extra);
        File.CreateSymbolicLink(Path.Combine(extra, "tiny.gguf"), SharedData.Path("models/llama-tiny-q8_0.gguf"));
        var models = Apply("""
            version = 1
            ; every model
            [*]
            top-k = 9

            [qwen3]
            cache-type-k = q8_0
            c = 192
            np = 3
            temp = 0.25
            top-k = 7

            [extra]
            model = elsewhere/tiny.gguf

            [stories]
            alias = tiny-stories
            """);
        await using var router = await RouterServer.StartAsync(models: _ => models);

        var props = (await router.GetAsync("/props?model=qwen3")).Body;
        Assert.Equal(192, props.GetProperty("n_ctx").GetInt32());
        Assert.Equal(3, props.GetProperty("total_slots").GetInt32());
        Assert.Equal(0.25, props.GetProperty("default_generation_settings").GetProperty("temperature").GetDouble(), 5);
        Assert.Equal(7, props.GetProperty("default_generation_settings").GetProperty("top_k").GetInt32());
        Assert.Equal("q8_0/f16", props.GetProperty("kv_cache_types").GetString());
        var llama = (await router.GetAsync("/props?model=llama")).Body;
        Assert.Equal(256, llama.GetProperty("n_ctx").GetInt32()); // the server-wide flag
        Assert.Equal(9, llama.GetProperty("default_generation_settings").GetProperty("top_k").GetInt32()); // from [*]
        Assert.Equal("f16/f16", llama.GetProperty("kv_cache_types").GetString());
        Assert.Equal(2, (await router.GetAsync("/slots?model=llama")).Body.GetArrayLength());

        var states = await router.StatesAsync();
        Assert.Contains("extra", states.Keys);
        Assert.Contains("tiny-stories", states.Keys);
        Assert.DoesNotContain("stories", states.Keys);
        Assert.Equal(200, (await router.ChatAsync("extra")).Status);
        Assert.Equal("tiny-stories", (await router.ChatAsync("tiny-stories")).Body.GetProperty("model").GetString());
    }

    [Fact]
    public async Task Load_on_startup_loads_the_model_when_the_server_starts()
    {
        var models = Apply("[llama]\nload-on-startup = true\n");
        await using var router = await RouterServer.StartAsync(models: _ => models);

        for (int i = 0; i < 400 && (await router.StatesAsync())["llama"] != "loaded"; i++)
            await Task.Delay(25, TestContext.Current.CancellationToken); // a hang guard, not a timing

        Assert.Equal("loaded", (await router.StatesAsync())["llama"]);
        Assert.Equal("unloaded", (await router.StatesAsync())["qwen3"]);
    }

    [Theory]
    [InlineData("[qwen3]\nctx = 512\n", 2, "'ctx' is not a preset key")]
    [InlineData("[qwen3]\nc = 512\nnp = lots\n", 3, "'np' must be a whole number from 1 to 256, got 'lots'")]
    [InlineData("[qwen3]\ncache-type-v = q5_9\n", 2, "'cache-type-v' unknown KV cache type 'q5_9'")]
    [InlineData("[qwen3]\ntop-p = 1.5\n", 2, "'top-p' must be a number from 0 to 1, got '1.5'")]
    [InlineData("c = 512\n[qwen3]\n", 1, "'c' keys must be inside a [NAME] section")]
    [InlineData("version = 2\n", 1, "'version' version 2 is not supported")]
    [InlineData("[qwen3]\nc = 1\nc = 2\n", 3, "'c' is set twice in this section")]
    [InlineData("\n[nothing-like-it]\nc = 512\n", 2, "section [nothing-like-it] names no model")]
    [InlineData("[new]\nmodel = missing.gguf\n", 2, "'model'")]
    [InlineData("[qwen3\n", 1, "a section header must be [NAME]")]
    [InlineData("[qwen3]\njust words\n", 2, "expected 'key = value'")]
    [InlineData("[qwen3]\nalias = llama\n", 2, "'alias' 'llama' is already the name of another model")]
    public void A_bad_preset_is_a_startup_error_naming_file_line_and_key(string text, int line, string expected)
    {
        string file = Preset(text);

        var e = Assert.ThrowsAny<ArgumentException>(() => ModelPresets.Apply(ModelCatalog.FromDirectory(_directory), file));

        Assert.StartsWith($"{file}:{line}: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Llama_cpp_gpu_switches_are_accepted_and_change_nothing()
    {
        var models = Apply("[qwen3]\nn-gpu-layers = 99\njinja = true\nflash-attn = on\n");

        Assert.Equal(new ModelSettings(), models.Single(m => m.Name == "qwen3").Settings);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
