using Tern.Gguf;
using Tern.Models;
using Tern.Models.Tests;
using Tern.Runtime.Sampling;

namespace Tern.Runtime.Tests;

/// <summary>general.sampling.* in a GGUF file replaces the family defaults; bad values name their key.</summary>
public sealed class RecommendedSamplingTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Recommended_values_win_over_the_family_defaults()
    {
        using var file = Copy(new()
        {
            ["general.sampling.temp"] = GgufValue.From(0.6f),
            ["general.sampling.top_k"] = GgufValue.From(20), // int32, as gguf-py writes it
            ["general.sampling.top_p"] = GgufValue.From(0.9), // float64
            ["general.sampling.min_p"] = GgufValue.From(0f),
            ["general.sampling.penalty_repeat"] = GgufValue.From(1.05f),
            ["general.sampling.penalty_last_n"] = GgufValue.From((uint)128),
            ["general.sampling.sequence"] = GgufValue.From("penalties;top_k;top_p;temp"), // not Tern's to reorder: ignored
            ["general.sampling.mirostat"] = GgufValue.From(0), // no mirostat sampler: ignored
        });

        var p = DefaultSampling.For(file);

        Assert.Equal((0.6f, 20, 0.9f, 0f, 1.05f, 128), (p.Temperature, p.TopK, p.TopP, p.MinP, p.RepeatPenalty, p.RepeatLastN));
        Assert.True(RecommendedSampling.IsPresent(file));
        p.Validate();
    }

    [Fact]
    public void A_file_without_recommendations_keeps_the_family_defaults()
    {
        using var file = GgufFile.Open(SharedData.Path("models/qwen2-tiny-f32.gguf"));
        Assert.False(RecommendedSampling.IsPresent(file));
        Assert.Equal(DefaultSampling.For("qwen2"), DefaultSampling.For(file) with { LogitBias = DefaultSampling.For("qwen2").LogitBias });
    }

    [Fact]
    public void Only_the_keys_present_change_and_top_k_zero_or_below_means_off()
    {
        using var file = Copy(new() { ["general.sampling.top_k"] = GgufValue.From(-1) });
        var p = DefaultSampling.For(file);
        Assert.Equal(DefaultSampling.For("qwen2") with { TopK = 0, LogitBias = p.LogitBias }, p);
    }

    [Theory]
    [InlineData("general.sampling.temp", float.NaN, "must be a finite number")]
    [InlineData("general.sampling.temp", float.PositiveInfinity, "must be a finite number")]
    [InlineData("general.sampling.temp", -0.5f, "must be >= 0")]
    [InlineData("general.sampling.top_p", 1.5f, "must be in (0, 1]")]
    [InlineData("general.sampling.top_p", 0f, "must be in (0, 1]")]
    [InlineData("general.sampling.min_p", -0.1f, "must be in [0, 1]")]
    [InlineData("general.sampling.penalty_repeat", 0f, "must be > 0")]
    [InlineData("general.sampling.penalty_last_n", -2f, "must be >= -1")]
    [InlineData("general.sampling.top_k", 2.5f, "must be a whole number")]
    [InlineData("general.sampling.top_k", 1e10f, "must be a whole number in the Int32 range")]
    public void An_unusable_value_is_a_load_error_naming_the_key(string key, float value, string rule)
    {
        using var file = Copy(new() { [key] = GgufValue.From(value) });
        var e = Assert.Throws<ModelLoadException>(() => DefaultSampling.For(file));
        Assert.Contains($"metadata '{key}' is ", e.Message);
        Assert.Contains(rule, e.Message);
        Assert.Contains(file.Path, e.Message);
    }

    [Fact]
    public void A_value_of_the_wrong_type_is_a_load_error_naming_the_key()
    {
        using var file = Copy(new() { ["general.sampling.temp"] = GgufValue.From("warm") });
        var e = Assert.Throws<ModelLoadException>(() => DefaultSampling.For(file));
        Assert.Contains("metadata 'general.sampling.temp' is \"warm\"; it must be a number, not String", e.Message);
    }

    private GgufFile Copy(Dictionary<string, GgufValue> metadata) =>
        GgufFile.Open(ModelFiles.Rewrite(SharedData.Path("models/qwen2-tiny-f32.gguf"), _temp.File($"{Guid.NewGuid():N}.gguf"), metadata));
}
