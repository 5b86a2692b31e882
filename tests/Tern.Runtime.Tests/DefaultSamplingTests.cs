using Tern.Runtime.Sampling;

namespace Tern.Runtime.Tests;

public sealed class DefaultSamplingTests
{
    [Theory]
    [InlineData("qwen2", 0.7f)]
    [InlineData("qwen3", 0.7f)]
    [InlineData("qwen2moe", 0.7f)]
    [InlineData("qwen3moe", 0.7f)]
    [InlineData("qwen35moe", 0.7f)]
    [InlineData("gemma", 0.6f)]
    [InlineData("gemma2", 0.6f)]
    [InlineData("gemma3", 0.6f)]
    [InlineData("llama", 0.8f)]
    [InlineData("phi3", 0.8f)]
    public void Default_temperature_follows_the_model_family(string architecture, float temperature)
    {
        Assert.Equal(temperature, DefaultSampling.For(architecture, modelName: null).Temperature);
    }

    [Fact]
    public void Model_name_decides_when_the_architecture_is_not_a_known_family()
    {
        Assert.Equal(0.7f, DefaultSampling.For("llama", "Qwen2.5 7B Instruct (llamafied)").Temperature);
        Assert.Equal(0.8f, DefaultSampling.For("llama", "Meta Llama 3.1 8B Instruct").Temperature);
        Assert.Equal(0.6f, DefaultSampling.For("gemma2", "Some Qwen merge").Temperature); // the architecture wins
    }

    [Fact]
    public void Everything_but_the_temperature_follows_llama_cpp_defaults()
    {
        var p = DefaultSampling.For("qwen3", "Qwen3 0.6B");
        Assert.Equal(new SamplingParams { Temperature = 0.7f, LogitBias = p.LogitBias }, p);
        Assert.Equal((40, 0.95f, 0.05f, 1.0f, 64), (p.TopK, p.TopP, p.MinP, p.RepeatPenalty, p.RepeatLastN));
        Assert.Equal((0f, 0f, 0), (p.PresencePenalty, p.FrequencyPenalty, p.LogitBias.Count));
        Assert.Null(p.Seed);
    }

    [Fact]
    public void Describe_gives_a_short_summary_of_the_defaults()
    {
        Assert.Equal("temp 0.8, top-k 40, top-p 0.95, min-p 0.05, repeat-penalty 1.0", DefaultSampling.Describe(DefaultSampling.For("llama")));
        Assert.Equal("temp 0.7, top-k 40, top-p 0.95, min-p 0.05, repeat-penalty 1.0", DefaultSampling.Describe(DefaultSampling.For("qwen2")));
    }

    [Fact]
    public void Describe_marks_disabled_steps_and_lists_non_default_extras()
    {
        var p = new SamplingParams
        {
            Temperature = 0,
            TopK = 0,
            TopP = 1,
            MinP = 0,
            RepeatPenalty = 1.1f,
            RepeatLastN = -1,
            PresencePenalty = 0.5f,
            LogitBias = new Dictionary<int, float> { [1] = -1 },
            Seed = 7,
        };
        Assert.Equal(
            "temp 0 (greedy), top-k off, top-p off, min-p off, repeat-penalty 1.1, repeat-last-n all, presence-penalty 0.5, logit-bias 1 tokens, seed 7",
            DefaultSampling.Describe(p));
    }
}
