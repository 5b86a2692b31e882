using Tern.Kernels;

namespace Tern.Kernels.Tests;

/// <summary>The gated activations of the feed-forward blocks.</summary>
public sealed class ActivationTests
{
    /// <summary>gelu(x) = x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³))) on the F16-rounded argument, rounded to F16: ggml's table.</summary>
    private static float GeluAsGgml(float x)
    {
        if (x <= -10f)
            return 0f;
        if (x >= 10f)
            return x;
        float h = (float)(Half)x;
        float gelu = 0.5f * h * (1f + MathF.Tanh(0.79788456080286535587989211986876f * h * (1f + 0.044715f * h * h)));
        return (float)(Half)gelu;
    }

    [Fact]
    public void Gelu_tanh_glu_matches_ggml_table_form_in_place_and_at_the_cut_offs()
    {
        var random = new Random(3);
        int n = 700; // several chunks of the kernel's scratch, and a partial one
        var gate = Enumerable.Range(0, n).Select(i => (float)((random.NextDouble() * 2 - 1) * 12)).ToArray();
        gate[0] = -10f;
        gate[1] = 10f;
        gate[2] = -10.5f;
        gate[3] = 11.25f;
        gate[4] = 0f;
        gate[5] = 1f;
        var up = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var expected = gate.Select((g, i) => GeluAsGgml(g) * up[i]).ToArray();

        var output = new float[n];
        Activation.GeluTanhGlu(gate, up, output);
        var inPlace = gate.ToArray();
        Activation.GeluTanhGlu(inPlace, up, inPlace);

        for (int i = 0; i < n; i++)
        {
            // One F16 ulp of the GELU (a float tanh rounding differently), times |up| ≤ 1; absolute near 0, where
            // 1 + tanh cancels in float (as in ggml).
            float tolerance = MathF.Max(1e-6f, MathF.Abs(GeluAsGgml(gate[i])) * 1e-3f);
            Assert.True(MathF.Abs(expected[i] - output[i]) <= tolerance, $"gate {gate[i]}: expected {expected[i]}, got {output[i]}");
        }

        Assert.Equal(output, inPlace);
        Assert.Equal(0f, output[0]);
        Assert.Equal(10f * up[1], output[1]);
        Assert.Equal(0f, output[2]);
        Assert.Equal(11.25f * up[3], output[3]);
        Assert.Equal(0f, output[4]);
        Assert.Equal((float)(Half)0.8411920f * up[5], output[5], 1e-6f);
    }

    [Fact]
    public void Gelu_tanh_glu_refuses_mismatched_lengths()
    {
        var e = Assert.Throws<ArgumentException>(() => Activation.GeluTanhGlu(new float[4], new float[3], new float[4]));
        Assert.Contains("up 3", e.Message);
    }

    [Fact]
    public void Soft_cap_is_cap_times_tanh_of_x_over_cap()
    {
        var random = new Random(11);
        const float Cap = 30f;
        var x = Enumerable.Range(0, 1000).Select(_ => (float)((random.NextDouble() * 2 - 1) * 200)).ToArray();
        x[0] = 0f;
        x[1] = 1e6f;
        x[2] = -1e6f;
        x[3] = 1e-3f;
        var y = x.ToArray();
        Activation.SoftCap(y, Cap);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Cap * Math.Tanh(x[i] / (double)Cap);
            Assert.True(Math.Abs(expected - y[i]) <= 2e-7 * Cap, $"x {x[i]}: {y[i]}, expected {expected}");
            Assert.True(Math.Abs(y[i]) <= Cap, $"x {x[i]}: {y[i]} beyond the cap");
        }

        // The vectorized tanh is accurate to about one float ulp of 1 near zero, not relatively: absolute bounds there.
        Assert.Equal(0f, y[0], 2e-6f);
        Assert.Equal(1e-3f, y[3], 2e-6f);
        Assert.Equal(Cap, y[1]);
        Assert.Equal(-Cap, y[2]);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-30f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Soft_cap_refuses_a_cap_that_is_not_positive_and_finite(float cap)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Activation.SoftCap(new float[4], cap));
        Assert.Equal("cap", e.ParamName);
    }
}
