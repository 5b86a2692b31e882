using Tern.Kernels;

namespace Tern.Kernels.Tests;

/// <summary>RoPE angles, with and without gemma4's frequency factors (<c>rope_freqs</c>), and their rotation.</summary>
public sealed class RopeTests
{
    /// <summary>
    /// Checks cos and sin against θᵢ = position · base^(−2i/ropeDim) / fᵢ in double precision. ggml builds θ by
    /// repeated multiplication in float, so θᵢ carries about i+2 float roundings: the bound grows with it.
    /// </summary>
    private static void AssertAngles(int position, int ropeDim, float freqBase, float[]? factors, float[] cos, float[] sin)
    {
        for (int i = 0; i < ropeDim / 2; i++)
        {
            double theta = position * Math.Pow(freqBase, -2.0 * i / ropeDim) / (factors?[i] ?? 1.0);
            double tolerance = 4e-7 + theta * (i + 3) * 1.2e-7;
            Assert.True(Math.Abs(Math.Cos(theta) - cos[i]) <= tolerance, $"pos {position} i {i}: cos {cos[i]}, expected {Math.Cos(theta)}");
            Assert.True(Math.Abs(Math.Sin(theta) - sin[i]) <= tolerance, $"pos {position} i {i}: sin {sin[i]}, expected {Math.Sin(theta)}");
        }
    }

    [Theory]
    [InlineData(64, 10000f)]
    [InlineData(128, 1000000f)]
    public void Angles_match_the_double_precision_formula_with_and_without_factors(int ropeDim, float freqBase)
    {
        var random = new Random(ropeDim);
        var factors = Enumerable.Range(0, ropeDim / 2).Select(_ => (float)(0.25 + random.NextDouble() * 8)).ToArray();
        var cos = new float[ropeDim / 2];
        var sin = new float[ropeDim / 2];
        foreach (int position in new[] { 0, 1, 7, 31, 100, random.Next(200, 4096) })
        {
            Rope.Angles(position, ropeDim, freqBase, cos, sin);
            AssertAngles(position, ropeDim, freqBase, null, cos, sin);
            Rope.Angles(position, ropeDim, freqBase, cos, sin, factors);
            AssertAngles(position, ropeDim, freqBase, factors, cos, sin);
        }
    }

    [Fact]
    public void Factors_of_one_give_the_angles_without_factors_bit_for_bit()
    {
        var ones = Enumerable.Repeat(1f, 64).ToArray();
        var (cos, sin, cosF, sinF) = (new float[64], new float[64], new float[64], new float[64]);
        foreach (int position in new[] { 0, 3, 1000, 65535 })
        {
            Rope.Angles(position, 128, 1000000f, cos, sin);
            Rope.Angles(position, 128, 1000000f, cosF, sinF, ones);
            Assert.Equal(cos, cosF);
            Assert.Equal(sin, sinF);
        }
    }

    /// <summary>
    /// gemma4's proportional RoPE (the tiny model's <c>rope_freqs</c>: 16 ones, then 48 × 1e30): the first pairs
    /// rotate as without factors, the others keep their values exactly (cos 1, sin below any float that matters).
    /// </summary>
    [Fact]
    public void Proportional_factors_rotate_the_first_pairs_and_leave_the_rest()
    {
        const int HeadDim = 128, Rotated = 16;
        var factors = Enumerable.Range(0, HeadDim / 2).Select(i => i < Rotated ? 1f : 1e30f).ToArray();
        var (cos, sin, cosP, sinP) = (new float[64], new float[64], new float[64], new float[64]);
        var random = new Random(5);
        var head = Enumerable.Range(0, HeadDim).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        foreach (int position in new[] { 1, 77, 131071 })
        {
            Rope.Angles(position, HeadDim, 1000000f, cos, sin);
            Rope.Angles(position, HeadDim, 1000000f, cosP, sinP, factors);
            Assert.Equal(cos.AsSpan(0, Rotated).ToArray(), cosP.AsSpan(0, Rotated).ToArray());
            Assert.Equal(sin.AsSpan(0, Rotated).ToArray(), sinP.AsSpan(0, Rotated).ToArray());

            var rotated = head.ToArray();
            Rope.Apply(RopeStyle.NeoX, rotated, cosP, sinP);
            for (int i = Rotated; i < HeadDim / 2; i++)
            {
                Assert.Equal(1f, cosP[i]);
                Assert.Equal(head[i], rotated[i]);
                Assert.Equal(head[i + HeadDim / 2], rotated[i + HeadDim / 2]);
            }

            var full = head.ToArray();
            Rope.Apply(RopeStyle.NeoX, full, cos, sin);
            for (int i = 0; i < Rotated; i++)
            {
                Assert.Equal(full[i], rotated[i]);
                Assert.Equal(full[i + HeadDim / 2], rotated[i + HeadDim / 2]);
            }
        }
    }

    /// <summary>
    /// The rotation rounds as llama.cpp's compiled rope: x0·cos − x1·sin with the x0 product fused (one rounding
    /// fewer than two products and a subtraction), likewise x0·sin + x1·cos; both pairings (NeoX and normal).
    /// </summary>
    [Theory]
    [InlineData(RopeStyle.NeoX)]
    [InlineData(RopeStyle.Normal)]
    public void Rotation_rounds_as_llama_cpp(RopeStyle style)
    {
        var random = new Random(21);
        const int Dim = 128;
        var cos = new float[Dim / 2];
        var sin = new float[Dim / 2];
        for (int position = 1; position < 200; position += 7)
        {
            Rope.Angles(position, Dim, 10000f, cos, sin);
            var head = Enumerable.Range(0, Dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var rotated = head.ToArray();
            Rope.Apply(style, rotated, cos, sin);
            for (int i = 0; i < Dim / 2; i++)
            {
                int a = style == RopeStyle.Normal ? 2 * i : i, b = style == RopeStyle.Normal ? 2 * i + 1 : i + Dim / 2;
                Assert.Equal(MathF.FusedMultiplyAdd(head[a], cos[i], -(head[b] * sin[i])), rotated[a]);
                Assert.Equal(MathF.FusedMultiplyAdd(head[a], sin[i], head[b] * cos[i]), rotated[b]);
            }
        }
    }

    [Fact]
    public void Too_few_factors_are_refused_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => Rope.Angles(1, 128, 10000f, new float[64], new float[64], new float[32]));
        Assert.Equal("freqFactors", e.ParamName);
        Assert.Contains("32 frequency factors for 64", e.Message);
    }
}
