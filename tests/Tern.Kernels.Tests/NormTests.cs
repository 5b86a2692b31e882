using Tern.Kernels;

namespace Tern.Kernels.Tests;

/// <summary>RMS norm with and without a weight (gemma4 normalizes its value heads and router input without one).</summary>
public sealed class NormTests
{
    private static float[] RandomRows(Random random, int count, double range) =>
        Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * range)).ToArray();

    /// <summary>
    /// Bit for bit ggml's rms_norm: the float squares summed in double in order, the mean rounded to float, the
    /// scale 1/sqrtf(mean + eps) (a float sum of squares differs in the last bit on some rows; gemma4's logits,
    /// at attention scale 1, follow such bits).
    /// </summary>
    [Fact]
    public void Rounds_as_ggml_rms_norm()
    {
        var random = new Random(12);
        const int Width = 256, Rows = 200;
        const float Eps = 1e-6f;
        var x = RandomRows(random, Width * Rows, 4);
        var y = new float[x.Length];
        Norm.RmsNorm(x, Width, Eps, y);
        for (int r = 0; r < Rows; r++)
        {
            double sum = 0;
            for (int i = 0; i < Width; i++)
                sum += x[r * Width + i] * x[r * Width + i];
            float scale = 1f / MathF.Sqrt((float)(sum / Width) + Eps);
            for (int i = 0; i < Width; i++)
                Assert.Equal(x[r * Width + i] * scale, y[r * Width + i]);
        }
    }

    [Theory]
    [InlineData(64, 3)]
    [InlineData(256, 5)]
    [InlineData(13, 7)]   // a width no vector divides
    public void Without_weight_matches_the_double_precision_formula_in_place_too(int width, int rows)
    {
        var random = new Random(width);
        var x = RandomRows(random, width * rows, 3);
        x[0] = 40f; // one large value in the first row
        const float Eps = 1e-6f;
        var y = new float[x.Length];
        Norm.RmsNorm(x, width, Eps, y);
        for (int r = 0; r < rows; r++)
        {
            double mean = 0;
            for (int i = 0; i < width; i++)
                mean += (double)x[r * width + i] * x[r * width + i];
            double scale = 1 / Math.Sqrt(mean / width + Eps);
            for (int i = 0; i < width; i++)
            {
                double expected = x[r * width + i] * scale;
                Assert.True(Math.Abs(expected - y[r * width + i]) <= 1e-6 + Math.Abs(expected) * 1e-6, $"row {r} [{i}]: {y[r * width + i]}, expected {expected}");
            }
        }

        var inPlace = x.ToArray();
        Norm.RmsNorm(inPlace, width, Eps, inPlace);
        Assert.Equal(y, inPlace);
    }

    [Fact]
    public void With_weight_is_the_weightless_norm_times_the_weight_bit_for_bit()
    {
        var random = new Random(2);
        const int Width = 128;
        var x = RandomRows(random, Width * 4, 2);
        var weight = RandomRows(random, Width, 1.5);
        var plain = new float[x.Length];
        var weighted = new float[x.Length];
        Norm.RmsNorm(x, Width, 1e-6f, plain);
        Norm.RmsNorm(x, weight, 1e-6f, weighted);
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(plain[i] * weight[i % Width], weighted[i]);
    }

    [Fact]
    public void Without_weight_refuses_rows_that_do_not_fit()
    {
        var e = Assert.Throws<ArgumentException>(() => Norm.RmsNorm(new float[10], 4, 1e-6f, new float[10]));
        Assert.Contains("not rows of 4", e.Message);
        Assert.Throws<ArgumentException>(() => Norm.RmsNorm(new float[8], 0, 1e-6f, new float[8]));
        Assert.Throws<ArgumentException>(() => Norm.RmsNorm(new float[8], 4, 1e-6f, new float[4]));
    }
}
