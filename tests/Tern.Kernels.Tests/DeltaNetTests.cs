using Tern.Kernels;

namespace Tern.Kernels.Tests;

/// <summary>The gated delta rule: step form against its plain twin and against the formula, chunked form against the step form.</summary>
public sealed class DeltaNetTests
{
    /// <summary>
    /// n tokens of a layer with two key heads and four value heads in one row per token (q | k | v, as the conv output
    /// lies), L2-normalised q and k, decays from softplus·(−e^A) as the model makes them, betas in (0, 1).
    /// </summary>
    private sealed class Tokens
    {
        public const int KeyHeads = 2, ValueHeads = 4;
        public readonly int N, Dk, Dv, Stride;
        public readonly float[] Rows, G, Beta;

        public Tokens(int n, int dk, int dv, int seed, float strongDecayEvery = 0)
        {
            N = n; Dk = dk; Dv = dv; Stride = 2 * KeyHeads * dk + ValueHeads * dv;
            var random = new Random(seed);
            Rows = Enumerable.Range(0, n * Stride).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            for (int t = 0; t < n; t++)
                Norm.L2Norm(Rows.AsSpan(t * Stride, 2 * KeyHeads * dk), dk, 1e-6f);
            G = new float[n * ValueHeads];
            Beta = new float[n * ValueHeads];
            for (int i = 0; i < G.Length; i++)
            {
                G[i] = Activation.Softplus((float)(random.NextDouble() * 6 - 4)) * -MathF.Exp((float)(random.NextDouble() * 2 - 1));
                Beta[i] = 1f / (1f + MathF.Exp((float)(random.NextDouble() * 8 - 4)));
            }

            if (strongDecayEvery > 0)
                for (int i = 0; i < G.Length; i += (int)strongDecayEvery)
                    G[i] = -40f; // e^g underflows across a chunk: the state is forgotten
        }

        /// <summary>Value head h reads key head h % KeyHeads (llama.cpp's tiled mapping).</summary>
        public DeltaNetHead Head(int h, float[] output) => new(
            Dk, Dv,
            Rows.AsSpan((h % KeyHeads) * Dk), Rows.AsSpan(KeyHeads * Dk + (h % KeyHeads) * Dk), Rows.AsSpan(2 * KeyHeads * Dk + h * Dv), Stride,
            G.AsSpan(h), Beta.AsSpan(h), ValueHeads,
            output.AsSpan(h * Dv), ValueHeads * Dv);
    }

    private static float[] RandomState(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
    }

    private static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scaleOf = Math.Max(1f, expected.Max(MathF.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= tolerance * scaleOf,
                $"{what}[{i}]: expected {expected[i]}, got {actual[i]} (tolerance {tolerance * scaleOf})");
    }

    [Fact]
    public void A_step_follows_the_delta_rule_written_out_in_double()
    {
        var random = new Random(5);
        const int dk = 3, dv = 2;
        float[] q = [0.6f, 0f, 0.8f], k = [0f, 0.6f, -0.8f], v = [1.5f, -0.5f];
        float g = -0.3f, beta = 0.7f;
        var state = Enumerable.Range(0, dk * dv).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();

        // S[i][j] = state[j·dk + i]; S ← e^g S; S += k ⊗ β(v − Sᵀk); o = Sᵀq / √dk.
        var s = new double[dk, dv];
        for (int i = 0; i < dk; i++)
            for (int j = 0; j < dv; j++)
                s[i, j] = Math.Exp(g) * state[j * dk + i];
        var expected = new double[dv];
        var delta = new double[dv];
        for (int j = 0; j < dv; j++)
        {
            double stk = 0;
            for (int i = 0; i < dk; i++)
                stk += s[i, j] * k[i];
            delta[j] = beta * (v[j] - stk);
        }

        for (int i = 0; i < dk; i++)
            for (int j = 0; j < dv; j++)
                s[i, j] += k[i] * delta[j];
        for (int j = 0; j < dv; j++)
        {
            for (int i = 0; i < dk; i++)
                expected[j] += s[i, j] * q[i];
            expected[j] /= Math.Sqrt(dk);
        }

        var output = new float[dv];
        DeltaNet.Step(q, k, v, g, beta, state, output);

        for (int j = 0; j < dv; j++)
        {
            Assert.Equal(expected[j], output[j], 1e-6);
            for (int i = 0; i < dk; i++)
                Assert.Equal(s[i, j], state[j * dk + i], 1e-6);
        }
    }

    [Theory]
    [InlineData(32, 32)]
    [InlineData(128, 128)]
    [InlineData(12, 20)] // not a multiple of the vector width: the plain path
    public void Vector_step_matches_its_scalar_twin_over_many_tokens(int dk, int dv)
    {
        var tokens = new Tokens(40, dk, dv, seed: dk + dv);
        var state = RandomState(1, dk * dv);
        var stateScalar = state.ToArray();
        var output = new float[dv];
        var outputScalar = new float[dv];
        for (int t = 0; t < tokens.N; t++)
        {
            var row = tokens.Rows.AsSpan(t * tokens.Stride);
            var q = row[..dk];
            var k = row.Slice(Tokens.KeyHeads * dk, dk);
            var v = row.Slice(2 * Tokens.KeyHeads * dk, dv);
            DeltaNet.Step(q, k, v, tokens.G[t * Tokens.ValueHeads], tokens.Beta[t * Tokens.ValueHeads], state, output);
            DeltaNet.StepScalar(q, k, v, tokens.G[t * Tokens.ValueHeads], tokens.Beta[t * Tokens.ValueHeads], stateScalar, outputScalar);
            AssertClose(outputScalar, output, 1e-5f, $"output of token {t}");
        }

        AssertClose(stateScalar, state, 1e-5f, "state");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(DeltaNet.ChunkSize - 1)]
    [InlineData(DeltaNet.ChunkSize)]
    [InlineData(3 * DeltaNet.ChunkSize + 5)]
    public void Chunked_prompt_gives_the_outputs_and_final_state_of_the_token_by_token_steps(int n)
    {
        const int dk = 32, dv = 32;
        foreach (bool fresh in new[] { true, false })
        {
            var tokens = new Tokens(n, dk, dv, seed: n);
            var initial = fresh ? new float[dk * dv] : RandomState(n, dk * dv);
            var scratch = new float[DeltaNet.ChunkScratchLength(dv)];
            for (int h = 0; h < Tokens.ValueHeads; h++)
            {
                var stepped = new float[n * Tokens.ValueHeads * dv];
                var steppedState = initial.ToArray();
                DeltaNet.Recurrent(n, tokens.Head(h, stepped), steppedState);

                var chunked = new float[n * Tokens.ValueHeads * dv];
                var chunkedState = initial.ToArray();
                DeltaNet.Chunked(n, tokens.Head(h, chunked), chunkedState, scratch);

                AssertClose(stepped, chunked, 2e-5f, $"output (head {h}, fresh {fresh})");
                AssertClose(steppedState, chunkedState, 2e-5f, $"state (head {h}, fresh {fresh})");
                Assert.Contains(chunked.AsSpan(h * dv, dv).ToArray(), x => x != 0);
            }
        }
    }

    [Fact]
    public void Chunked_form_holds_for_wide_heads_and_decays_that_forget_the_state()
    {
        const int dk = 128, dv = 128, n = 2 * DeltaNet.ChunkSize + 17;
        var tokens = new Tokens(n, dk, dv, seed: 77, strongDecayEvery: 37);
        var initial = RandomState(3, dk * dv);
        var scratch = new float[DeltaNet.ChunkScratchLength(dv)];
        var stepped = new float[n * Tokens.ValueHeads * dv];
        var steppedState = initial.ToArray();
        DeltaNet.Recurrent(n, tokens.Head(1, stepped), steppedState);
        var chunked = new float[n * Tokens.ValueHeads * dv];
        var chunkedState = initial.ToArray();
        DeltaNet.Chunked(n, tokens.Head(1, chunked), chunkedState, scratch);

        AssertClose(stepped, chunked, 2e-5f, "output");
        AssertClose(steppedState, chunkedState, 2e-5f, "state");
        Assert.All(chunked.Concat(chunkedState), x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void Vector_chunked_form_matches_its_scalar_twin()
    {
        const int dk = 64, dv = 64, n = DeltaNet.ChunkSize + 9;
        var tokens = new Tokens(n, dk, dv, seed: 8);
        var initial = RandomState(9, dk * dv);
        var scratch = new float[DeltaNet.ChunkScratchLength(dv)];
        var fast = new float[n * Tokens.ValueHeads * dv];
        var fastState = initial.ToArray();
        DeltaNet.Chunked(n, tokens.Head(2, fast), fastState, scratch);
        var plain = new float[n * Tokens.ValueHeads * dv];
        var plainState = initial.ToArray();
        DeltaNet.ChunkedScalar(n, tokens.Head(2, plain), plainState, scratch);

        AssertClose(plain, fast, 1e-5f, "output");
        AssertClose(plainState, fastState, 1e-5f, "state");
    }

    [Fact]
    public void A_prompt_chunked_then_decoded_step_by_step_equals_stepping_it_all()
    {
        const int dk = 32, dv = 32, prompt = 70, decoded = 6;
        var tokens = new Tokens(prompt + decoded, dk, dv, seed: 21);
        var scratch = new float[DeltaNet.ChunkScratchLength(dv)];
        var all = new float[(prompt + decoded) * Tokens.ValueHeads * dv];
        var allState = new float[dk * dv];
        DeltaNet.Recurrent(prompt + decoded, tokens.Head(3, all), allState);

        var mixed = new float[(prompt + decoded) * Tokens.ValueHeads * dv];
        var mixedState = new float[dk * dv];
        DeltaNet.Chunked(prompt, tokens.Head(3, mixed), mixedState, scratch);
        int row = Tokens.ValueHeads * dv;
        for (int t = prompt; t < prompt + decoded; t++)
        {
            var r = tokens.Rows.AsSpan(t * tokens.Stride);
            DeltaNet.Step(r.Slice(1 * dk, dk), r.Slice((Tokens.KeyHeads + 1) * dk, dk), r.Slice(2 * Tokens.KeyHeads * dk + 3 * dv, dv),
                tokens.G[t * Tokens.ValueHeads + 3], tokens.Beta[t * Tokens.ValueHeads + 3], mixedState, mixed.AsSpan(t * row + 3 * dv, dv));
        }

        AssertClose(all, mixed, 2e-5f, "output");
        AssertClose(allState, mixedState, 2e-5f, "state");
    }

    [Fact]
    public void Decay_is_softplus_of_alpha_plus_bias_times_a()
    {
        var g = new float[3];
        DeltaNet.Decay([0.5f, -3f, 30f], [0.25f, 1f, 0f], [-2f, -0.5f, -1f], g);
        Assert.Equal(MathF.Log(1f + MathF.Exp(0.75f)) * -2f, g[0], 1e-6f);
        Assert.Equal(MathF.Log(1f + MathF.Exp(-2f)) * -0.5f, g[1], 1e-6f);
        Assert.Equal(-30f, g[2]); // above 20, softplus is the identity
    }

    [Fact]
    public void Mismatched_buffers_are_refused_with_their_sizes()
    {
        var e = Assert.Throws<ArgumentException>(() => DeltaNet.Step(new float[4], new float[4], new float[3], 0f, 1f, new float[11], new float[3]));
        Assert.Contains("state 11", e.Message);
        var tokens = new Tokens(10, 8, 8, seed: 1);
        var output = new float[10 * Tokens.ValueHeads * 8];
        var scratch = new float[DeltaNet.ChunkScratchLength(8)];
        var tooMany = Assert.Throws<ArgumentException>(() => DeltaNet.Chunked(11, tokens.Head(0, output), new float[64], scratch));
        Assert.Contains("11 tokens", tooMany.Message);
        Assert.Throws<ArgumentException>(() => DeltaNet.Chunked(10, tokens.Head(0, output), new float[64], new float[10]));
        Assert.Throws<ArgumentException>(() => DeltaNet.Decay(new float[2], new float[1], new float[2], new float[2]));
    }
}
