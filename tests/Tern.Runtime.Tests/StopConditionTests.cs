using Tern.Runtime.Sampling;

namespace Tern.Runtime.Tests;

public sealed class StopConditionTests
{
    private static readonly HashSet<int> Eog = [2, 7];

    [Fact]
    public void An_end_of_generation_token_stops_generation()
    {
        var stop = new StopCondition(maxTokens: 100, Eog);
        Assert.Equal(StopReason.EndOfGeneration, stop.Check(7, generatedCount: 3));
        Assert.Equal(StopReason.None, stop.Check(5, generatedCount: 3));
    }

    [Fact]
    public void The_token_limit_stops_generation_at_exactly_max_tokens()
    {
        var stop = new StopCondition(maxTokens: 4, id => id == 0);
        Assert.Equal(StopReason.None, stop.Check(5, generatedCount: 3));
        Assert.Equal(StopReason.Length, stop.Check(5, generatedCount: 4));
    }

    [Fact]
    public void End_of_generation_wins_over_the_limit()
    {
        Assert.Equal(StopReason.EndOfGeneration, new StopCondition(4, Eog).Check(2, generatedCount: 4));
    }

    [Fact]
    public void Without_a_limit_only_end_of_generation_stops()
    {
        var stop = new StopCondition(maxTokens: null, Eog);
        Assert.Equal(StopReason.None, stop.Check(5, generatedCount: int.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StopCondition(-1, Eog));
    }
}
