using Tern.Runtime.Sampling;

namespace Tern.Runtime.Tests;

public sealed class SamplerStepsTests
{
    [Fact]
    public void Logit_bias_adds_to_the_listed_tokens_only()
    {
        float[] logits = [1, 2, 3, 4];
        SamplerSteps.ApplyLogitBias(logits, [0, 3], [0.5f, float.NegativeInfinity]);
        Assert.Equal([1.5f, 2, 3, float.NegativeInfinity], logits);
    }

    [Fact]
    public void Repeat_penalty_divides_positive_and_multiplies_negative_logits_of_tokens_in_the_window()
    {
        float[] logits = [2, -2, 1, 0.5f, 0];
        Penalise(logits, [0, 1, 0, 3, 4], repeat: 2, presence: 0, frequency: 0);
        Assert.Equal([1, -4, 1, 0.25f, 0], logits);
    }

    [Fact]
    public void Presence_penalty_subtracts_once_per_token_in_the_window()
    {
        float[] logits = [2, -2, 1, 0.5f];
        Penalise(logits, [0, 1, 0, 0, 3], repeat: 1, presence: 0.5f, frequency: 0);
        Assert.Equal([1.5f, -2.5f, 1, 0], logits);
    }

    [Fact]
    public void Frequency_penalty_subtracts_once_per_occurrence_in_the_window()
    {
        float[] logits = [2, -2, 1, 0.5f];
        Penalise(logits, [0, 1, 0, 0, 3], repeat: 1, presence: 0, frequency: 0.25f);
        Assert.Equal([1.25f, -2.25f, 1, 0.25f], logits);
    }

    [Fact]
    public void Penalties_combine_as_in_llama_cpp_repeat_first_then_frequency_and_presence()
    {
        float[] logits = [3, -1];
        Penalise(logits, [0, 0, 1], repeat: 1.5f, presence: 0.5f, frequency: 0.25f);
        Assert.Equal([3 / 1.5f - (2 * 0.25f + 0.5f), -1 * 1.5f - (0.25f + 0.5f)], logits);
    }

    [Fact]
    public void Penalties_leave_the_count_scratch_zeroed_for_the_next_call()
    {
        float[] logits = [1, 1, 1];
        var counts = new int[3];
        SamplerSteps.ApplyPenalties(logits, [2, 2, 0], 2, 0, 0, counts, new int[3]);
        Assert.Equal([0, 0, 0], counts);
    }

    [Fact]
    public void Penalties_reject_history_tokens_outside_the_vocabulary()
    {
        var counts = new int[3];
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() =>
            SamplerSteps.ApplyPenalties(new float[3], [0, 3], 2, 0, 0, counts, new int[3]));
        Assert.Equal("window", ex.ParamName);
        Assert.Equal([0, 0, 0], counts);
    }

    [Fact]
    public void Argmax_takes_the_lowest_id_on_ties()
    {
        Assert.Equal(1, SamplerSteps.Argmax([0, 5, 2, 5]));
        Assert.Equal(-1, SamplerSteps.Argmax([float.NegativeInfinity, float.NegativeInfinity]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(40)]
    [InlineData(999)]
    public void Top_k_keeps_exactly_the_k_best_tokens(int k)
    {
        var random = new Random(k);
        float[] logits = Enumerable.Range(0, 1000).Select(_ => (float)Math.Round(random.NextDouble() * 20 - 10, 1)).ToArray();
        var buffer = new Candidate[logits.Length];

        int n = SamplerSteps.TopK(logits, k, buffer);

        int[] expected = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i).Take(k).ToArray();
        Candidate.Sort(buffer.AsSpan(0, n));
        Assert.Equal(expected, buffer[..n].Select(c => c.Id));
    }

    [Fact]
    public void Top_k_off_keeps_every_token_except_banned_ones()
    {
        float[] logits = [1, float.NegativeInfinity, 3, 2];
        var buffer = new Candidate[4];
        int n = SamplerSteps.TopK(logits, 0, buffer);
        Assert.Equal([0, 2, 3], buffer[..n].Select(c => c.Id).Order());
    }

    [Fact]
    public void Top_k_skips_banned_tokens_even_when_fewer_than_k_remain()
    {
        float[] logits = [float.NegativeInfinity, 1, float.NegativeInfinity, float.NegativeInfinity];
        var buffer = new Candidate[4];
        Assert.Equal(1, SamplerSteps.TopK(logits, 3, buffer));
        Assert.Equal(1, buffer[0].Id);
    }

    [Fact]
    public void Candidates_sort_by_descending_logit_then_ascending_id_and_keep_their_logit()
    {
        float[] logits = [-1.5f, 3.25f, -0.0f, 0, 3.25f, float.MaxValue, -1e-30f, 1e-30f, -7];
        var candidates = logits.Select((l, id) => new Candidate(id, l)).ToArray();
        Candidate.Sort(candidates);
        Assert.Equal([5, 1, 4, 7, 2, 3, 6, 0, 8], candidates.Select(c => c.Id));
        Assert.All(candidates, c => Assert.Equal(logits[c.Id], c.Logit)); // exact, but -0 comes back as +0
    }

    [Theory]
    [InlineData(0.4f, 1)]
    [InlineData(0.75f, 2)]
    [InlineData(0.85f, 3)]
    [InlineData(0.99f, 4)]
    public void Top_p_keeps_the_smallest_set_whose_probability_reaches_p(float p, int kept)
    {
        var sorted = Candidates(Logits(0.5, 0.3, 0.15, 0.05));
        Candidate.Sort(sorted);
        float max = SamplerSteps.MaxLogit(sorted);
        Assert.Equal(kept, SamplerSteps.TopP(sorted, p, max, SamplerSteps.SumExp(sorted, max)));
    }

    [Theory]
    [InlineData(0.05f, 4)]
    [InlineData(0.2f, 3)]
    [InlineData(0.5f, 2)]
    [InlineData(0.9f, 1)]
    public void Min_p_drops_tokens_less_likely_than_p_times_the_best(float p, int kept)
    {
        // unsorted on purpose: min-p keeps the survivors in their order
        var candidates = Candidates(Logits(0.15, 0.5, 0.05, 0.3));
        int n = SamplerSteps.MinP(candidates, p, SamplerSteps.MaxLogit(candidates));
        int[] expected = new[] { 0, 1, 2, 3 }.Where(id => new[] { 0.15, 0.5, 0.05, 0.3 }[id] >= p * 0.5).ToArray();
        Assert.Equal(kept, n);
        Assert.Equal(expected, candidates[..n].Select(c => c.Id));
    }

    [Fact]
    public void Filter_matches_llama_cpp_top_k_then_top_p_then_min_p_on_random_inputs()
    {
        var random = new Random(7);
        var buffer = new Candidate[2000];
        for (int trial = 0; trial < 200; trial++)
        {
            // flat and peaked distributions, so top-p sometimes needs most of the vocabulary
            float[] logits = Enumerable.Range(0, 2000).Select(_ => (float)(random.NextDouble() * random.Next(1, 30))).ToArray();
            for (int i = 0; i < 20; i++)
                logits[random.Next(2000)] = float.NegativeInfinity;
            var p = new SamplingParams
            {
                TopK = random.Next(3) == 0 ? 0 : random.Next(1, 2400),
                TopP = random.Next(3) == 0 ? 1 : (float)random.NextDouble() * 0.99f + 0.01f,
                MinP = random.Next(3) == 0 ? 0 : (float)random.NextDouble() * 0.5f,
            };

            int n = SamplerSteps.Filter(logits, p, buffer, new float[logits.Length]);

            Assert.Equal(ReferenceFilter(logits, p), buffer[..n].Select(c => c.Id).Order());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(500)]
    [InlineData(999)]
    public void Select_best_moves_the_best_candidates_to_the_front(int count)
    {
        var random = new Random(count);
        var candidates = Enumerable.Range(0, 1000).Select(id => new Candidate(id, random.Next(100))).ToArray();
        var expected = candidates.OrderByDescending(c => c.Logit).ThenBy(c => c.Id).Take(count).Select(c => c.Id).Order();

        SamplerSteps.SelectBest(candidates, count);

        Assert.Equal(expected, candidates[..count].Select(c => c.Id).Order());
    }

    [Fact]
    public void Draw_maps_the_uniform_number_onto_the_cumulative_distribution()
    {
        var candidates = Candidates(Logits(0.5, 0.25, 0.25));
        var scratch = new float[3];
        Assert.Equal(0, SamplerSteps.Draw(candidates, 1, 0.0, scratch));
        Assert.Equal(0, SamplerSteps.Draw(candidates, 1, 0.49, scratch));
        Assert.Equal(1, SamplerSteps.Draw(candidates, 1, 0.51, scratch));
        Assert.Equal(2, SamplerSteps.Draw(candidates, 1, 0.76, scratch));
        Assert.Equal(2, SamplerSteps.Draw(candidates, 1, Math.BitDecrement(1.0), scratch));
    }

    // llama.cpp's order, literally: sort, cut to k, softmax + cumulative cut at p, then the min-p threshold.
    private static int[] ReferenceFilter(float[] logits, SamplingParams p)
    {
        var ids = Enumerable.Range(0, logits.Length).Where(i => !float.IsNegativeInfinity(logits[i]))
            .OrderByDescending(i => logits[i]).ThenBy(i => i).ToList();
        if (p.TopK > 0)
            ids = ids.Take(p.TopK).ToList();
        float max = logits[ids[0]];
        if (p.TopP < 1)
        {
            double sum = ids.Sum(i => (double)MathF.Exp(logits[i] - max));
            double cumulative = 0;
            int keep = ids.Count;
            for (int i = 0; i < ids.Count; i++)
            {
                cumulative += MathF.Exp(logits[ids[i]] - max) / sum;
                if (cumulative >= p.TopP)
                {
                    keep = i + 1;
                    break;
                }
            }
            ids = ids.Take(keep).ToList();
        }
        if (p.MinP > 0)
            ids = ids.Where(i => logits[i] >= max + MathF.Log(p.MinP)).ToList();
        return ids.Order().ToArray();
    }

    private static float[] Logits(params double[] probabilities) => probabilities.Select(q => (float)Math.Log(q)).ToArray();

    private static Candidate[] Candidates(float[] logits) => logits.Select((l, id) => new Candidate(id, l)).ToArray();

    private static void Penalise(float[] logits, int[] window, float repeat, float presence, float frequency) =>
        SamplerSteps.ApplyPenalties(logits, window, repeat, presence, frequency, new int[logits.Length], new int[logits.Length]);
}
