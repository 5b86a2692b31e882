using Tern.Runtime.Sampling;

namespace Tern.Runtime.Tests;

public sealed class SamplerChainTests
{
    private static readonly float[] Peaked = [1.0f, 3.5f, 0.2f, 3.0f, -1.0f, 2.0f];

    private static SamplingParams Unfiltered(float temperature = 1, ulong seed = 42) =>
        new() { Temperature = temperature, TopK = 0, TopP = 1, MinP = 0, Seed = seed };

    [Fact]
    public void Greedy_picks_the_argmax()
    {
        var chain = new SamplerChain(new SamplingParams { Temperature = 0 }, Peaked.Length);
        Assert.Equal(1, chain.Sample(Peaked, []));
    }

    [Fact]
    public void Greedy_takes_the_lowest_id_on_ties()
    {
        var chain = new SamplerChain(new SamplingParams { Temperature = 0 }, 4);
        Assert.Equal(1, chain.Sample([0, 2, 1, 2], []));
    }

    [Fact]
    public void Temperature_zero_ignores_top_k_top_p_min_p_and_the_seed()
    {
        var filtered = new SamplingParams { Temperature = 0, TopK = 2, TopP = 0.1f, MinP = 0.9f };
        for (ulong seed = 0; seed < 20; seed++)
            Assert.Equal(1, new SamplerChain(filtered with { Seed = seed }, Peaked.Length).Sample(Peaked, []));
        Assert.Equal(1, new SamplerChain(new SamplingParams { Temperature = 1e-7f }, Peaked.Length).Sample(Peaked, []));
    }

    [Fact]
    public void Greedy_applies_logit_bias_and_penalties_before_taking_the_argmax()
    {
        var biased = new SamplerChain(new SamplingParams { Temperature = 0, LogitBias = new Dictionary<int, float> { [3] = 1 } }, Peaked.Length);
        Assert.Equal(3, biased.Sample(Peaked, []));

        var penalised = new SamplerChain(new SamplingParams { Temperature = 0, PresencePenalty = 2 }, Peaked.Length);
        Assert.Equal(3, penalised.Sample(Peaked, [1, 2]));
    }

    [Fact]
    public void Negative_infinite_logit_bias_bans_a_token()
    {
        var ban = new Dictionary<int, float> { [1] = float.NegativeInfinity };
        Assert.Equal(3, new SamplerChain(new SamplingParams { Temperature = 0, LogitBias = ban }, Peaked.Length).Sample(Peaked, []));

        var chain = new SamplerChain(Unfiltered(temperature: 2) with { LogitBias = ban }, Peaked.Length);
        for (int i = 0; i < 2000; i++)
            Assert.NotEqual(1, chain.Sample(Peaked, []));
    }

    [Fact]
    public void Large_positive_logit_bias_forces_a_token()
    {
        var chain = new SamplerChain(Unfiltered(temperature: 1.5f) with { LogitBias = new Dictionary<int, float> { [4] = 100 } }, Peaked.Length);
        for (int i = 0; i < 2000; i++)
            Assert.Equal(4, chain.Sample(Peaked, []));
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    public void Banning_every_token_throws(float temperature)
    {
        var all = Enumerable.Range(0, 3).ToDictionary(t => t, _ => float.NegativeInfinity);
        var chain = new SamplerChain(new SamplingParams { Temperature = temperature, LogitBias = all }, 3);
        Assert.Throws<InvalidOperationException>(() => chain.Sample([1, 2, 3], []));
    }

    [Theory]
    [InlineData(0f, float.NaN)]
    [InlineData(1f, float.NaN)]
    [InlineData(0f, float.PositiveInfinity)]
    [InlineData(1f, float.PositiveInfinity)]
    public void Logits_holding_nan_or_positive_infinity_throw_instead_of_picking_a_token(float temperature, float bad)
    {
        float[] logits = [.. Peaked];
        logits[4] = bad; // the others are fine, so greedy used to pick token 1 as if nothing were wrong
        var chain = new SamplerChain(new SamplingParams { Temperature = temperature }, logits.Length);
        var error = Assert.Throws<InvalidLogitsException>(() => chain.Sample(logits, []));
        Assert.Contains("first at token 4 of 6", error.Message);
        Assert.Throws<InvalidLogitsException>(() => chain.Sample(logits, [], new TokenLogprob[2]));
    }

    [Fact]
    public void Top_k_one_is_greedy()
    {
        var chain = new SamplerChain(Unfiltered(temperature: 5) with { TopK = 1 }, Peaked.Length);
        for (int i = 0; i < 500; i++)
            Assert.Equal(1, chain.Sample(Peaked, []));
    }

    [Fact]
    public void Top_p_samples_only_from_the_nucleus_and_reaches_all_of_it()
    {
        // probabilities 0.5, 0.3, 0.15, 0.05: p = 0.75 keeps ids 0 and 1
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];
        var chain = new SamplerChain(Unfiltered() with { TopP = 0.75f }, 4);
        var seen = Enumerable.Range(0, 2000).Select(_ => chain.Sample(logits, [])).ToHashSet();
        Assert.Equal([0, 1], seen.Order());
    }

    [Fact]
    public void Min_p_never_samples_tokens_below_p_times_the_best_probability()
    {
        // relative to the best (0.5): 0.3 and 0.15 pass a 0.25 cut (0.125), 0.05 does not
        float[] logits = [MathF.Log(0.05f), MathF.Log(0.5f), MathF.Log(0.15f), MathF.Log(0.3f)];
        var chain = new SamplerChain(Unfiltered() with { MinP = 0.25f }, 4);
        var seen = Enumerable.Range(0, 2000).Select(_ => chain.Sample(logits, [])).ToHashSet();
        Assert.Equal([1, 2, 3], seen.Order());
    }

    [Fact]
    public void Same_seed_reproduces_the_same_200_samples()
    {
        var p = new SamplingParams { Temperature = 1.2f, Seed = 1234 };
        var first = Samples(new SamplerChain(p, Peaked.Length), 200);
        var second = Samples(new SamplerChain(p, Peaked.Length), 200);
        Assert.Equal(first, second);
        Assert.True(first.Distinct().Count() > 2, "a temperature of 1.2 should give varied tokens");
    }

    [Fact]
    public void Different_seeds_give_different_samples()
    {
        var p = new SamplingParams { Temperature = 1.2f };
        var a = Samples(new SamplerChain(p with { Seed = 1 }, Peaked.Length), 200);
        var b = Samples(new SamplerChain(p with { Seed = 2 }, Peaked.Length), 200);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void A_missing_seed_is_drawn_at_random_and_reported()
    {
        var p = new SamplingParams { Temperature = 1.2f };
        var chain = new SamplerChain(p, Peaked.Length);
        var replay = new SamplerChain(p with { Seed = chain.Seed }, Peaked.Length);
        Assert.Equal(Samples(chain, 100), Samples(replay, 100));
    }

    [Theory]
    [InlineData(1.0f)]
    [InlineData(0.5f)]
    [InlineData(2.0f)]
    public void Empirical_frequencies_match_the_softmax_of_logits_over_temperature(float temperature)
    {
        const int Draws = 20_000;
        var chain = new SamplerChain(Unfiltered(temperature, seed: 99), Peaked.Length);
        var counts = new int[Peaked.Length];
        for (int i = 0; i < Draws; i++)
            counts[chain.Sample(Peaked, [])]++;

        double[] expected = Softmax(Peaked.Select(l => l / temperature).ToArray());
        for (int t = 0; t < Peaked.Length; t++)
            Assert.InRange((double)counts[t] / Draws - expected[t], -0.02, 0.02);
    }

    [Fact]
    public void Filters_work_on_temperature_one_probabilities_and_temperature_reshapes_the_survivors()
    {
        // as llama.cpp: top-k 2 keeps ids 1 and 3, then temperature 0.5 sharpens 3.5 vs 3.0
        const int Draws = 20_000;
        var chain = new SamplerChain(Unfiltered(temperature: 0.5f, seed: 5) with { TopK = 2 }, Peaked.Length);
        int ones = Enumerable.Range(0, Draws).Count(_ => chain.Sample(Peaked, []) == 1);
        double expected = Softmax([3.5 / 0.5, 3.0 / 0.5])[0];
        Assert.InRange((double)ones / Draws - expected, -0.02, 0.02);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(3, 3)]
    [InlineData(100, 3)]
    [InlineData(-1, 3)]
    public void Penalties_look_only_at_the_last_n_tokens_of_the_history(int repeatLastN, int expected)
    {
        float[] logits = [3, 2, 1, 0];
        var p = new SamplingParams { Temperature = 0, PresencePenalty = 10, RepeatLastN = repeatLastN };
        Assert.Equal(expected, new SamplerChain(p, 4).Sample(logits, [1, 2, 0]));
    }

    [Fact]
    public void Penalties_are_recomputed_from_each_call_s_history()
    {
        var chain = new SamplerChain(new SamplingParams { Temperature = 0, RepeatPenalty = 10 }, Peaked.Length);
        Assert.Equal(3, chain.Sample(Peaked, [1]));
        Assert.Equal(1, chain.Sample(Peaked, [3]));
        Assert.Equal(5, chain.Sample(Peaked, [1, 3]));
    }

    [Fact]
    public void Logprobs_are_the_log_softmax_of_the_biased_logits_before_penalties()
    {
        float[] logits = [1, 2, 3, 0];
        var p = new SamplingParams { Temperature = 0, RepeatPenalty = 2, LogitBias = new Dictionary<int, float> { [0] = 1.5f } };
        var chain = new SamplerChain(p, 4);
        var top = new TokenLogprob[3];

        var result = chain.Sample(logits, [2], top);

        double[] expected = Softmax([2.5, 2, 3, 0]).Select(x => Math.Log(x)).ToArray();
        Assert.Equal(0, result.Token); // the penalty halves token 2 to 1.5, so the biased token 0 wins
        Assert.Equal(expected[0], result.Logprob, 1e-5);
        Assert.Equal(3, result.TopCount);
        Assert.Equal([2, 0, 1], top.Select(t => t.Token));
        for (int i = 0; i < 3; i++)
            Assert.Equal(expected[top[i].Token], top[i].Logprob, 1e-5);
    }

    [Fact]
    public void Top_logprobs_skip_banned_tokens_and_report_how_many_were_written()
    {
        var chain = new SamplerChain(new SamplingParams { Temperature = 0, LogitBias = new Dictionary<int, float> { [1] = float.NegativeInfinity } }, 3);
        var top = new TokenLogprob[5];
        var result = chain.Sample([0, 5, 1], [], top);
        Assert.Equal(2, result.TopCount);
        Assert.Equal([2, 0], top[..2].Select(t => t.Token));
    }

    [Fact]
    public void Sampling_with_and_without_logprobs_draws_the_same_tokens()
    {
        var p = new SamplingParams { Temperature = 1, Seed = 77, RepeatPenalty = 1.3f };
        var plain = new SamplerChain(p, Peaked.Length);
        var withLogprobs = new SamplerChain(p, Peaked.Length);
        var top = new TokenLogprob[2];
        for (int i = 0; i < 100; i++)
            Assert.Equal(plain.Sample(Peaked, [1, 3]), withLogprobs.Sample(Peaked, [1, 3], top).Token);
    }

    [Fact]
    public void A_logit_count_other_than_the_vocabulary_size_is_rejected()
    {
        var chain = new SamplerChain(new SamplingParams(), 4);
        Assert.Equal("logits", Assert.Throws<ArgumentException>(() => chain.Sample(new float[5], [])).ParamName);
    }

    [Fact]
    public void Large_vocabulary_without_top_k_still_samples_only_from_the_min_p_and_top_p_survivors()
    {
        var random = new Random(3);
        float[] logits = Enumerable.Range(0, 50_000).Select(_ => (float)random.NextDouble() * 4).ToArray();
        logits[123] = 12;
        logits[456] = 11.5f;
        var chain = new SamplerChain(new SamplingParams { Temperature = 1, TopK = 0, Seed = 1 }, logits.Length);
        var seen = Enumerable.Range(0, 300).Select(_ => chain.Sample(logits, [])).ToHashSet();
        Assert.Equal([123, 456], seen.Order());
    }

    private static int[] Samples(SamplerChain chain, int count) =>
        Enumerable.Range(0, count).Select(_ => chain.Sample(Peaked, [])).ToArray();

    private static double[] Softmax(double[] logits)
    {
        double max = logits.Max();
        double[] e = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }

    private static double[] Softmax(float[] logits) => Softmax(logits.Select(l => (double)l).ToArray());

    [Fact]
    public void A_chain_on_lent_buffers_samples_as_a_chain_on_its_own()
    {
        var p = new SamplingParams { Temperature = 0.8f, TopK = 40, RepeatPenalty = 1.3f, FrequencyPenalty = 0.2f, Seed = 7 };
        var random = new Random(3);
        float[] logits = [.. Enumerable.Range(0, 500).Select(_ => (float)random.NextDouble() * 8)];
        var buffers = new SamplerBuffers(500);
        List<int> history = [1, 5, 5, 9, 42];
        for (int round = 0; round < 2; round++) // the second chain gets the buffers the first one left dirty
        {
            var lent = new SamplerChain(p, 500, buffers);
            var own = new SamplerChain(p, 500);
            for (int i = 0; i < 20; i++)
            {
                int token = own.Sample(logits, history.ToArray());
                Assert.Equal(token, lent.Sample(logits, history.ToArray()));
                history.Add(token);
            }
        }

        Assert.Throws<ArgumentException>(() => new SamplerChain(p, 400, buffers));
    }
}
