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

    /// <summary>Every F16 argument between the cut-offs gives ggml's table entry bit for bit (tanhf in ggml's float expression).</summary>
    [Fact]
    public void Gelu_tanh_glu_is_ggml_table_for_every_f16_argument()
    {
        var gate = Enumerable.Range(0, 65536).Select(i => (float)BitConverter.UInt16BitsToHalf((ushort)i))
            .Where(x => float.IsFinite(x) && x > -10f && x < 10f).ToArray();
        var output = new float[gate.Length];
        Activation.GeluTanhGlu(gate, Enumerable.Repeat(1f, gate.Length).ToArray(), output);
        for (int i = 0; i < gate.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(GeluAsGgml(gate[i])) == BitConverter.SingleToUInt32Bits(output[i]),
                $"gelu({gate[i]:R}): {output[i]:R}, ggml's table {GeluAsGgml(gate[i]):R}");
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

        // tanhf, as ggml_vec_tanh_f32 (the final logits of gemma4 are then llama.cpp's bits), between the two scales.
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(MathF.Tanh(x[i] * (1f / Cap)) * Cap, y[i]);
        Assert.Equal(0f, y[0]);
        Assert.Equal(Cap, y[1]);
        Assert.Equal(-Cap, y[2]);
    }

    /// <summary>
    /// The router's softmax rounds as ggml's soft_max: e^(x − max) by ggml_v_expf for whole groups of 8 (each group's
    /// lanes added as hsum_float_8 does) and expf for the rest, the sum in double, every value times float(1/sum).
    /// </summary>
    [Theory]
    [InlineData(8)]
    [InlineData(128)]
    [InlineData(13)]
    public void Softmax_rounds_as_ggml_soft_max(int width)
    {
        var random = new Random(width);
        var x = Enumerable.Range(0, 3 * width).Select(_ => (float)((random.NextDouble() * 2 - 1) * 6)).ToArray();
        var y = x.ToArray();
        Activation.Softmax(y, width);
        for (int row = 0; row < 3; row++)
        {
            var r = x.AsSpan(row * width, width);
            float max = r.ToArray().Max();
            var e = new float[width];
            double sum = 0;
            int i = 0;
            for (; i + 8 <= width; i += 8)
            {
                for (int j = 0; j < 8; j++)
                    e[i + j] = Activation.GgmlExp(r[i + j] - max);
                float[] lo = [e[i] + e[i + 4], e[i + 1] + e[i + 5], e[i + 2] + e[i + 6], e[i + 3] + e[i + 7]];
                sum += (lo[0] + lo[2]) + (lo[1] + lo[3]);
            }

            for (; i < width; i++)
                sum += e[i] = MathF.Exp(r[i] - max);
            float inverse = (float)(1.0 / sum);
            for (int j = 0; j < width; j++)
                Assert.Equal(e[j] * inverse, y[row * width + j]);
            Assert.Equal(1.0, y.AsSpan(row * width, width).ToArray().Sum(v => (double)v), 1e-6);
        }
    }

    /// <summary>ggml_v_expf one lane at a time: within 2 ulp of e^x where it is normal, 1 at 0, 0 far below.</summary>
    [Fact]
    public void Ggml_exp_is_within_2_ulp()
    {
        var random = new Random(4);
        for (int n = 0; n < 100_000; n++)
        {
            float x = (float)((random.NextDouble() * 2 - 1) * 87);
            double expected = Math.Exp(x);
            Assert.True(Math.Abs(Activation.GgmlExp(x) - expected) <= 2.4e-7 * expected, $"e^{x}: {Activation.GgmlExp(x)}, expected {expected}");
        }

        Assert.Equal(1f, Activation.GgmlExp(0f));
        Assert.Equal(0f, Activation.GgmlExp(-120f));
        Assert.Equal(0f, Activation.GgmlExp(float.NegativeInfinity));
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
