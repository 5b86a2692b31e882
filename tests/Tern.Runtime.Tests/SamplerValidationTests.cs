using Tern.Runtime.Sampling;

namespace Tern.Runtime.Tests;

public sealed class SamplerValidationTests
{
    [Theory]
    [InlineData(nameof(SamplingParams.Temperature), -0.1)]
    [InlineData(nameof(SamplingParams.Temperature), double.NaN)]
    [InlineData(nameof(SamplingParams.Temperature), double.PositiveInfinity)]
    [InlineData(nameof(SamplingParams.TopK), -1)]
    [InlineData(nameof(SamplingParams.TopP), 0)]
    [InlineData(nameof(SamplingParams.TopP), 1.01)]
    [InlineData(nameof(SamplingParams.TopP), double.NaN)]
    [InlineData(nameof(SamplingParams.MinP), -0.01)]
    [InlineData(nameof(SamplingParams.MinP), 1.5)]
    [InlineData(nameof(SamplingParams.MinP), double.NaN)]
    [InlineData(nameof(SamplingParams.RepeatPenalty), 0)]
    [InlineData(nameof(SamplingParams.RepeatPenalty), -1)]
    [InlineData(nameof(SamplingParams.RepeatPenalty), double.NaN)]
    [InlineData(nameof(SamplingParams.RepeatLastN), -2)]
    [InlineData(nameof(SamplingParams.PresencePenalty), double.NaN)]
    [InlineData(nameof(SamplingParams.FrequencyPenalty), double.NegativeInfinity)]
    public void Out_of_range_values_are_rejected_naming_the_parameter(string name, double value)
    {
        var p = With(name, value);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => p.Validate());
        Assert.Equal(name, ex.ParamName);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(SamplingParams.Temperature), 0)]
    [InlineData(nameof(SamplingParams.TopK), 0)]
    [InlineData(nameof(SamplingParams.TopP), 1)]
    [InlineData(nameof(SamplingParams.MinP), 0)]
    [InlineData(nameof(SamplingParams.MinP), 1)]
    [InlineData(nameof(SamplingParams.RepeatLastN), -1)]
    [InlineData(nameof(SamplingParams.RepeatLastN), 0)]
    [InlineData(nameof(SamplingParams.PresencePenalty), -2)]
    [InlineData(nameof(SamplingParams.FrequencyPenalty), 2)]
    public void Boundary_values_that_switch_a_step_off_are_accepted(string name, double value)
    {
        var p = With(name, value);
        p.Validate();
        int token = new SamplerChain(p with { Seed = 1 }, 3).Sample([0, 1, 2], [2, 2]);
        Assert.InRange(token, 0, 2);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Logit_bias_must_be_finite_or_negative_infinity(float bias)
    {
        var p = new SamplingParams { LogitBias = new Dictionary<int, float> { [1] = bias } };
        Assert.Equal(nameof(SamplingParams.LogitBias), Assert.Throws<ArgumentException>(() => p.Validate()).ParamName);
    }

    [Fact]
    public void Logit_bias_token_ids_must_be_in_the_vocabulary()
    {
        var p = new SamplingParams { LogitBias = new Dictionary<int, float> { [10] = 1 } };
        p.Validate(); // without a vocabulary size only the values can be checked
        Assert.Equal(nameof(SamplingParams.LogitBias), Assert.Throws<ArgumentOutOfRangeException>(() => p.Validate(vocabSize: 10)).ParamName);
        Assert.Equal(nameof(SamplingParams.LogitBias), Assert.Throws<ArgumentOutOfRangeException>(() => new SamplerChain(p, 10)).ParamName);
        var negative = new SamplingParams { LogitBias = new Dictionary<int, float> { [-1] = 1 } };
        Assert.Throws<ArgumentOutOfRangeException>(() => negative.Validate());
    }

    [Fact]
    public void The_sampler_chain_validates_its_parameters()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SamplerChain(new SamplingParams { TopP = 0 }, 10));
        Assert.Equal(nameof(SamplingParams.TopP), ex.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplerChain(new SamplingParams(), 0));
    }

    private static SamplingParams With(string name, double value) => name switch
    {
        nameof(SamplingParams.Temperature) => new() { Temperature = (float)value },
        nameof(SamplingParams.TopK) => new() { TopK = (int)value },
        nameof(SamplingParams.TopP) => new() { TopP = (float)value },
        nameof(SamplingParams.MinP) => new() { MinP = (float)value },
        nameof(SamplingParams.RepeatPenalty) => new() { RepeatPenalty = (float)value },
        nameof(SamplingParams.RepeatLastN) => new() { RepeatLastN = (int)value },
        nameof(SamplingParams.PresencePenalty) => new() { PresencePenalty = (float)value },
        nameof(SamplingParams.FrequencyPenalty) => new() { FrequencyPenalty = (float)value },
        _ => throw new ArgumentException(name, nameof(name)),
    };
}
