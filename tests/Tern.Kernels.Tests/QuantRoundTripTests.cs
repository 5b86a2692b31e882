using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>Quantize → dequantize error bounds, exact re-quantization, rounding rules and activation-block sums.</summary>
public class QuantRoundTripTests
{
    // llama.cpp tests/test-quantize-fns.cpp: bounds on sqrt(Σ(x − x̂)²)/n over 32·128 values of 0.1 + 2·cos(i + offset).
    private const float MaxQuantizationTotalError = 0.002f;
    private const float MaxQuantizationTotalErrorTernary = 0.01f;
    private const float MaxQuantizationTotalError2Bits = 0.0075f;
    private const float MaxQuantizationTotalError3Bits = 0.0040f;
    private const int TestSize = 32 * 128;

    private static readonly GgmlType[] QuantizableTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q8_0, GgmlType.Q8_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
        GgmlType.Q8_K, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
    ];

    public static TheoryData<GgmlType> AllQuantizable() => new(QuantizableTypes);

    [Theory]
    [MemberData(nameof(AllQuantizable))]
    public void Round_trip_error_on_llama_cpp_synthetic_data_is_within_its_bound(GgmlType type)
    {
        float[] x = Synthetic(0.0f, TestSize);
        float error = TotalError(x, RoundTrip(type, x));
        float bound = type switch
        {
            GgmlType.TQ1_0 or GgmlType.TQ2_0 => MaxQuantizationTotalErrorTernary,
            GgmlType.Q2_K => MaxQuantizationTotalError2Bits,
            GgmlType.Q3_K => MaxQuantizationTotalError3Bits,
            _ => MaxQuantizationTotalError,
        };
        Assert.True(error < bound, $"{type}: total error {error} ≥ {bound}");
    }

    /// <summary>
    /// Relative RMS error (‖x − x̂‖ / ‖x‖) on N(0, 1) data. Bounds sit about 20 % above what ggml's reference
    /// quantizers reach on this data (so a regression in the scale search shows), ordered by bits per weight.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.F16, 0.00025f)]
    [InlineData(GgmlType.BF16, 0.0020f)]
    [InlineData(GgmlType.Q8_0, 0.0066f)]
    [InlineData(GgmlType.Q8_1, 0.0066f)]
    [InlineData(GgmlType.Q8_K, 0.0087f)]
    [InlineData(GgmlType.Q6_K, 0.022f)]
    [InlineData(GgmlType.Q5_0, 0.052f)]
    [InlineData(GgmlType.Q5_1, 0.046f)]
    [InlineData(GgmlType.Q5_K, 0.044f)]
    [InlineData(GgmlType.Q4_0, 0.105f)]
    [InlineData(GgmlType.Q4_1, 0.094f)]
    [InlineData(GgmlType.Q4_K, 0.085f)]
    [InlineData(GgmlType.IQ4_NL, 0.092f)]
    [InlineData(GgmlType.IQ4_XS, 0.092f)]
    [InlineData(GgmlType.Q3_K, 0.18f)]
    [InlineData(GgmlType.Q2_K, 0.355f)]
    public void Round_trip_relative_error_on_gaussian_data_is_within_bound(GgmlType type, float bound)
    {
        float[] x = Gaussian(TestSize, new Random(1234));
        float error = RelativeRms(x, RoundTrip(type, x));
        Assert.True(error < bound, $"{type}: relative RMS error {error} ≥ {bound}");
    }

    [Theory]
    [InlineData(GgmlType.TQ1_0)]
    [InlineData(GgmlType.TQ2_0)]
    public void Ternary_types_reproduce_ternary_weights(GgmlType type)
    {
        var rng = new Random(7);
        float[] x = new float[TestSize];
        for (int i = 0; i < x.Length; i++) x[i] = (rng.Next(3) - 1) * 0.0625f; // a power of two: exact in f16
        for (int b = 0; b < x.Length; b += 256) x[b + rng.Next(256)] = 0.0625f;  // every block reaches its scale
        Assert.Equal(x, RoundTrip(type, x));
    }

    [Theory]
    [MemberData(nameof(AllQuantizable))]
    public void Zero_input_quantizes_to_blocks_that_dequantize_to_zero(GgmlType type)
    {
        var q = QuantTypes.Get(type);
        float[] x = new float[2 * 256];
        byte[] blocks = new byte[q.RowBytes(x.Length)];
        blocks.AsSpan().Fill(0xA5); // quantizers must overwrite every byte they rely on
        q.FromFloat!(x, blocks);
        float[] y = new float[x.Length];
        q.ToFloat(blocks, y);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    /// <summary>
    /// Where quantization is provably idempotent: the block's extreme value maps back to itself, so the rounded scale is
    /// recovered exactly and every level lies within a tiny fraction of a step from an integer.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.TQ1_0)]
    [InlineData(GgmlType.TQ2_0)]
    public void Requantizing_dequantized_blocks_gives_the_same_bytes(GgmlType type)
    {
        var q = QuantTypes.Get(type);
        float[] x = Gaussian(TestSize, new Random(99));
        byte[] first = new byte[q.RowBytes(x.Length)];
        q.FromFloat!(x, first);
        float[] y = new float[x.Length];
        q.ToFloat(first, y);
        byte[] second = new byte[first.Length];
        q.FromFloat!(y, second);
        Assert.Equal(first, second);
    }

    [Fact]
    public void Q8_0_rounds_half_away_from_zero_like_roundf()
    {
        // amax 127 makes d = 1, so these are exact ties.
        float[] x = new float[32];
        x[0] = 127f;
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.5f;
        x[4] = -0.5f;
        byte[] b = new byte[Q8_0.BlockBytes];
        Q8_0.Quantize(x, b);
        Assert.Equal(1.0f, F16.Read(b, Q8_0.OffsetD));
        Assert.Equal(new sbyte[] { 127, 3, -3, 1, -1 }, b.AsSpan(Q8_0.OffsetQs, 5).ToArray().Select(v => (sbyte)v));
    }

    [Fact]
    public void Q8_K_rounds_half_to_even_and_maps_the_extreme_to_minus_127()
    {
        float[] x = new float[256];
        x[0] = 127f;  // iscale = −127/127 = −1
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 3.5f;
        x[4] = 0.5f;
        byte[] b = new byte[Q8_K.BlockBytes];
        Q8_K.Quantize(x, b);
        Assert.Equal(-1f, BinaryPrimitives.ReadSingleLittleEndian(b));
        Assert.Equal(new sbyte[] { -127, -2, 2, -4, 0 }, b.AsSpan(Q8_K.OffsetQs, 5).ToArray().Select(v => (sbyte)v));
    }

    [Fact]
    public void Q8_K_stores_a_float32_scale_and_fills_bsums_with_sums_of_16_quants()
    {
        float[] x = Gaussian(4 * 256, new Random(5));
        byte[] blocks = new byte[4 * Q8_K.BlockBytes];
        blocks.AsSpan().Fill(0x5A);
        Q8_K.Quantize(x, blocks);
        for (int i = 0; i < 4; i++)
        {
            var b = blocks.AsSpan(i * Q8_K.BlockBytes, Q8_K.BlockBytes);
            float d = BinaryPrimitives.ReadSingleLittleEndian(b);
            Assert.NotEqual(BitConverter.SingleToInt32Bits(d), BitConverter.SingleToInt32Bits(F16.ToFloat(F16.FromFloat(d))));
            for (int g = 0; g < 16; g++)
            {
                int sum = 0;
                for (int l = 0; l < 16; l++) sum += (sbyte)b[Q8_K.OffsetQs + 16 * g + l];
                Assert.Equal(sum, BinaryPrimitives.ReadInt16LittleEndian(b[(Q8_K.OffsetBsums + 2 * g)..]));
            }
        }
    }

    [Fact]
    public void Q8_1_stores_d_times_the_sum_of_its_quants()
    {
        float[] x = Synthetic(3.0f, 8 * 32);
        for (int i = 0; i < x.Length; i++) x[i] += 0.7f; // a nonzero mean, so s is far from 0
        byte[] blocks = new byte[8 * Q8_1.BlockBytes];
        Q8_1.Quantize(x, blocks);
        for (int i = 0; i < 8; i++)
        {
            var b = blocks.AsSpan(i * Q8_1.BlockBytes, Q8_1.BlockBytes);
            var xb = x.AsSpan(i * 32, 32);
            float amax = 0;
            foreach (float v in xb) amax = MathF.Max(amax, MathF.Abs(v));
            int sum = 0;
            for (int j = 0; j < 32; j++) sum += (sbyte)b[Q8_1.OffsetQs + j];
            Assert.NotEqual(0, sum);
            // s uses the unrounded d = amax/127, not the stored half.
            Assert.Equal(F16.FromFloat(sum * (amax / 127)), BinaryPrimitives.ReadUInt16LittleEndian(b[Q8_1.OffsetS..]));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(64)]
    public void Q8_0_vector_quantizer_matches_scalar_twin(int blocks)
    {
        foreach (float[] x in ActivationLikeRows(blocks * 32))
        {
            byte[] a = new byte[blocks * Q8_0.BlockBytes], b = new byte[a.Length];
            Q8_0.Quantize(x, a);
            Q8_0.QuantizeScalar(x, b);
            Assert.Equal(b, a);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(64)]
    public void Q8_1_vector_quantizer_matches_scalar_twin(int blocks)
    {
        foreach (float[] x in ActivationLikeRows(blocks * 32))
        {
            byte[] a = new byte[blocks * Q8_1.BlockBytes], b = new byte[a.Length];
            Q8_1.Quantize(x, a);
            Q8_1.QuantizeScalar(x, b);
            Assert.Equal(b, a);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    public void Q8_K_vector_quantizer_matches_scalar_twin(int blocks)
    {
        foreach (float[] x in ActivationLikeRows(blocks * 256))
        {
            byte[] a = new byte[blocks * Q8_K.BlockBytes], b = new byte[a.Length];
            Q8_K.Quantize(x, a);
            Q8_K.QuantizeScalar(x, b);
            Assert.Equal(b, a);
        }
    }

    [Fact]
    public void F16_conversion_rounds_to_nearest_even_like_ggml()
    {
        Assert.Equal((ushort)0x3C00, F16.FromFloat(1f + MathF.Pow(2, -11)));      // tie → even (1.0)
        Assert.Equal((ushort)0x3C02, F16.FromFloat(1f + 3 * MathF.Pow(2, -11)));  // tie → even (1 + 2^-9)
        Assert.Equal((ushort)0x3C01, F16.FromFloat(1f + 1.5f * MathF.Pow(2, -11))); // above the tie
        Assert.Equal((ushort)0x0000, F16.FromFloat(MathF.Pow(2, -25)));           // subnormal tie → 0
        Assert.Equal((ushort)0x0002, F16.FromFloat(3 * MathF.Pow(2, -25)));       // subnormal tie → even
        Assert.Equal((ushort)0x7BFF, F16.FromFloat(65519f));
        Assert.Equal((ushort)0x7C00, F16.FromFloat(65520f));                      // tie with 65536 → infinity
        Assert.Equal((ushort)0xC000, F16.FromFloat(-2f));
        Assert.Equal(MathF.Pow(2, -24), F16.ToFloat(0x0001));
        Assert.Equal(65504f, F16.ToFloat(0x7BFF));
    }

    [Fact]
    public void BF16_conversion_rounds_to_nearest_even_like_ggml()
    {
        Assert.Equal((ushort)0x3F80, BF16.FromFloat(1f + MathF.Pow(2, -8)));      // tie → even (1.0)
        Assert.Equal((ushort)0x3F82, BF16.FromFloat(1f + 3 * MathF.Pow(2, -8)));  // tie → even
        Assert.Equal((ushort)0x3F81, BF16.FromFloat(1f + 1.5f * MathF.Pow(2, -8)));
        Assert.Equal((ushort)0x7F80, BF16.FromFloat(float.MaxValue));             // rounds up to infinity
        Assert.Equal((ushort)0x0001, BF16.FromFloat(BitConverter.UInt32BitsToSingle(0x00008000 + 1))); // subnormals are rounded, not flushed
        Assert.True(float.IsNaN(BF16.ToFloat(BF16.FromFloat(BitConverter.UInt32BitsToSingle(0x7F800001))))); // a NaN whose top bits alone would be infinity
        Assert.Equal(-1.5f, BF16.ToFloat(0xBFC0));
    }

    internal static float[] Synthetic(float offset, int n, float amplitude = 2.0f)
    {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(0.1 + amplitude * MathF.Cos(i + offset));
        return x;
    }

    internal static float[] Gaussian(int n, Random rng)
    {
        float[] x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            x[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return x;
    }

    private static IEnumerable<float[]> ActivationLikeRows(int n)
    {
        var rng = new Random(n);
        yield return Gaussian(n, rng);
        yield return Synthetic(1.0f, n);
        float[] outliers = Gaussian(n, rng); // a few large values, as real activations have
        for (int i = 0; i < n; i += 97) outliers[i] *= -40;
        yield return outliers;
        // Extremes ±127 make the scale exactly 1, so the halves are exact rounding ties; +127 before −127 in each
        // block checks that Q8_K keeps the sign of the first extreme.
        float[] ties = new float[n];
        for (int i = 0; i < n; i++) ties[i] = i % 32 == 0 ? 127f : i % 32 == 1 ? -127f : (i % 9 - 4) * 0.5f;
        yield return ties;
        yield return new float[n];
    }

    private static float[] RoundTrip(GgmlType type, float[] x)
    {
        var q = QuantTypes.Get(type);
        byte[] blocks = new byte[q.RowBytes(x.Length)];
        q.FromFloat!(x, blocks);
        float[] y = new float[x.Length];
        q.ToFloat(blocks, y);
        return y;
    }

    /// <summary>llama.cpp's array_rmse: sqrt(Σ diff²) / n.</summary>
    private static float TotalError(float[] a, float[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double diff = a[i] - b[i];
            sum += diff * diff;
        }

        return (float)(Math.Sqrt(sum) / a.Length);
    }

    private static float RelativeRms(float[] x, float[] y)
    {
        double err = 0, norm = 0;
        for (int i = 0; i < x.Length; i++)
        {
            err += (double)(x[i] - y[i]) * (x[i] - y[i]);
            norm += (double)x[i] * x[i];
        }

        return (float)Math.Sqrt(err / norm);
    }
}
