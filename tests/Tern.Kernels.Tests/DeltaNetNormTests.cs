using Tern.Kernels;

namespace Tern.Kernels.Tests;

/// <summary>The norms qwen35moe's DeltaNet layers add: L2 of q and k, and the output's RMS norm gated by silu(z).</summary>
public sealed class DeltaNetNormTests
{
    [Fact]
    public void L2_norm_divides_each_row_by_its_length_and_clamps_a_tiny_length_at_eps()
    {
        float[] x = [3f, 4f, 0f, 0f, 1e-9f, 0f];
        Norm.L2Norm(x, 2, 1e-6f);
        Assert.Equal(0.6f, x[0], 1e-7f);
        Assert.Equal(0.8f, x[1], 1e-7f);
        Assert.Equal([0f, 0f], x[2..4]);
        Assert.Equal(1e-3f, x[4], 1e-9f); // 1e-9 / max(1e-9, 1e-6)
        Assert.Throws<ArgumentException>(() => Norm.L2Norm(new float[5], 2, 1e-6f));
    }

    [Fact]
    public void Gated_rms_norm_is_the_rms_norm_times_silu_of_the_gate_in_place()
    {
        var random = new Random(4);
        const int d = 32, rows = 3;
        var x = Enumerable.Range(0, d * rows).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var z = Enumerable.Range(0, d * rows).Select(_ => (float)(random.NextDouble() * 6 - 3)).ToArray();
        var weight = Enumerable.Range(0, d).Select(_ => (float)random.NextDouble()).ToArray();
        var expected = new float[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double meanSquare = x.Skip(r * d).Take(d).Sum(v => (double)v * v) / d;
            for (int i = 0; i < d; i++)
            {
                double zi = z[r * d + i];
                expected[r * d + i] = (float)(x[r * d + i] / Math.Sqrt(meanSquare + 1e-6) * weight[i] * zi / (1 + Math.Exp(-zi)));
            }
        }

        Norm.GatedRmsNorm(x, weight, z, 1e-6f, x);

        for (int i = 0; i < x.Length; i++)
            Assert.Equal(expected[i], x[i], 1e-5f);
        Assert.Throws<ArgumentException>(() => Norm.GatedRmsNorm(new float[d], weight, new float[d - 1], 1e-6f, new float[d]));
    }
}
