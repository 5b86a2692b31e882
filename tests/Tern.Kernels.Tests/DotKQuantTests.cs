using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Dot;

namespace Tern.Kernels.Tests;

/// <summary>
/// Q2_K..Q6_K · Q8_K dot products: the SIMD path against the scalar twin, and the scalar twin against a float dot of
/// values dequantized here, straight from the ggml block layouts.
/// </summary>
public class DotKQuantTests
{
    private const int BlockSize = 256;
    private const int Q8KBlockBytes = 292;

    public static TheoryData<GgmlType, int> TypesAndBlockCounts()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (GgmlType type in new[] { GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            foreach (int blocks in new[] { 1, 2, 7, 32 })
            {
                data.Add(type, blocks);
            }
        }

        return data;
    }

    public static TheoryData<GgmlType> Types() =>
        new(GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void KQuant_dot_matches_scalar_reference_on_random_blocks(GgmlType type, int blocks)
    {
        var (dot, scalar) = Kernels(type);
        for (int seed = 0; seed < 4; seed++)
        {
            var rng = new Random(1000 * (int)type + 10 * blocks + seed);
            byte[] weights = RandomBlocks.Make(type, blocks, rng);
            byte[] activations = RandomBlocks.Make(GgmlType.Q8_K, blocks, rng);
            double magnitude = AbsoluteDot(Dequantize(type, weights), DequantizeQ8K(activations));

            float expected = scalar(weights, activations);
            float actual = dot(weights, activations);

            Assert.True(Math.Abs(actual - expected) <= 1e-6 * magnitude,
                $"{type} x {blocks} blocks, seed {seed}: dot {actual} vs scalar {expected} (scale {magnitude})");
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void KQuant_scalar_dot_matches_float_dot_of_dequantized_blocks(GgmlType type, int blocks)
    {
        var (_, scalar) = Kernels(type);
        for (int seed = 0; seed < 4; seed++)
        {
            var rng = new Random(7 + 1000 * (int)type + 10 * blocks + seed);
            byte[] weights = RandomBlocks.Make(type, blocks, rng);
            byte[] activations = RandomBlocks.Make(GgmlType.Q8_K, blocks, rng);
            float[] w = Dequantize(type, weights);
            float[] a = DequantizeQ8K(activations);
            double expected = 0;
            for (int i = 0; i < w.Length; i++)
            {
                expected += (double)w[i] * a[i];
            }

            double magnitude = AbsoluteDot(w, a);
            float actual = scalar(weights, activations);

            Assert.True(Math.Abs(actual - expected) <= 1e-6 * magnitude,
                $"{type} x {blocks} blocks, seed {seed}: scalar {actual} vs float dot {expected} (scale {magnitude})");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void KQuant_dot_matches_scalar_reference_with_subnormal_and_zero_half_scales(GgmlType type)
    {
        var (dot, scalar) = Kernels(type);
        var rng = new Random(31 + (int)type);
        byte[] weights = RandomBlocks.Make(type, 32, rng);
        byte[] activations = RandomBlocks.Make(GgmlType.Q8_K, 32, rng);
        UseTinyScales(type, weights, rng);
        double magnitude = AbsoluteDot(Dequantize(type, weights), DequantizeQ8K(activations));

        float expected = scalar(weights, activations);
        float actual = dot(weights, activations);

        Assert.True(magnitude > 0);
        Assert.True(Math.Abs(actual - expected) <= 1e-6 * magnitude, $"{type}: dot {actual} vs scalar {expected} (scale {magnitude})");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void KQuant_dot_is_not_finite_when_a_half_scale_is_infinite_or_nan(GgmlType type)
    {
        var (dot, scalar) = Kernels(type);
        int blockBytes = GgmlTypeSizes.Get(type).BytesPerBlock;
        int dOffset = type switch { GgmlType.Q2_K => 80, GgmlType.Q3_K => 108, GgmlType.Q6_K => 208, _ => 0 };
        foreach (ushort bits in new ushort[] { 0x7C00, 0xFC00, 0x7E00 })
        {
            var rng = new Random(bits);
            byte[] weights = RandomBlocks.Make(type, 3, rng);
            byte[] activations = RandomBlocks.Make(GgmlType.Q8_K, 3, rng);
            BinaryPrimitives.WriteUInt16LittleEndian(weights.AsSpan(blockBytes + dOffset), bits);

            Assert.False(float.IsFinite(scalar(weights, activations)));
            Assert.False(float.IsFinite(dot(weights, activations)), $"{type} with half scale 0x{bits:X4}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void KQuant_dot_of_empty_rows_is_zero(GgmlType type)
    {
        var (dot, scalar) = Kernels(type);
        Assert.Equal(0f, dot([], []));
        Assert.Equal(0f, scalar([], []));
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void KQuant_dot_rejects_activations_of_another_length(GgmlType type)
    {
        var (dot, scalar) = Kernels(type);
        int blockBytes = GgmlTypeSizes.Get(type).BytesPerBlock;
        byte[] weights = new byte[2 * blockBytes];

        var tooShort = Assert.Throws<ArgumentException>(() => dot(weights, new byte[Q8KBlockBytes]));
        Assert.Equal("activations", tooShort.ParamName);
        Assert.Throws<ArgumentException>(() => scalar(weights, new byte[3 * Q8KBlockBytes]));

        var ragged = Assert.Throws<ArgumentException>(() => dot(new byte[blockBytes + 1], new byte[Q8KBlockBytes]));
        Assert.Equal("weights", ragged.ParamName);
    }

    private static (DotRow Dot, DotRow Scalar) Kernels(GgmlType type) => type switch
    {
        GgmlType.Q2_K => (DotQ2_K.Dot, DotQ2_K.Scalar),
        GgmlType.Q3_K => (DotQ3_K.Dot, DotQ3_K.Scalar),
        GgmlType.Q4_K => (DotQ4_K.Dot, DotQ4_K.Scalar),
        GgmlType.Q5_K => (DotQ5_K.Dot, DotQ5_K.Scalar),
        GgmlType.Q6_K => (DotQ6_K.Dot, DotQ6_K.Scalar),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    private static double AbsoluteDot(float[] w, float[] a)
    {
        double sum = 0;
        for (int i = 0; i < w.Length; i++)
        {
            sum += Math.Abs((double)w[i] * a[i]);
        }

        return sum;
    }

    /// <summary>
    /// Replaces every half scale (d, and dmin where the type has one) with a subnormal, a zero or a negative zero, so
    /// the kernels' half → float conversion is exercised off its normal path.
    /// </summary>
    private static void UseTinyScales(GgmlType type, byte[] row, Random rng)
    {
        int blockBytes = GgmlTypeSizes.Get(type).BytesPerBlock;
        int[] offsets = type switch
        {
            GgmlType.Q2_K => [80, 82],
            GgmlType.Q3_K => [108],
            GgmlType.Q6_K => [208],
            _ => [0, 2],
        };
        for (int b = 0; b < row.Length / blockBytes; b++)
        {
            foreach (int offset in offsets)
            {
                int pick = rng.Next(10);
                ushort bits = pick switch
                {
                    0 => 0x0000,
                    1 => 0x8000,
                    _ => (ushort)(rng.Next(1, 0x400) | (pick % 2 == 0 ? 0x8000 : 0)),
                };
                BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(b * blockBytes + offset), bits);
            }
        }
    }

    // ---- dequantizers written from the block layouts (ggml-common.h), independent of the kernels ----

    private static float ReadHalf(ReadOnlySpan<byte> bytes) => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes);

    private static float[] Dequantize(GgmlType type, byte[] data)
    {
        int blockBytes = GgmlTypeSizes.Get(type).BytesPerBlock;
        int blocks = data.Length / blockBytes;
        float[] output = new float[blocks * BlockSize];
        for (int i = 0; i < blocks; i++)
        {
            ReadOnlySpan<byte> block = data.AsSpan(i * blockBytes, blockBytes);
            Span<float> y = output.AsSpan(i * BlockSize, BlockSize);
            switch (type)
            {
                case GgmlType.Q2_K: DequantizeQ2K(block, y); break;
                case GgmlType.Q3_K: DequantizeQ3K(block, y); break;
                case GgmlType.Q4_K: DequantizeQ4KOrQ5K(block, y, hasHighBits: false); break;
                case GgmlType.Q5_K: DequantizeQ4KOrQ5K(block, y, hasHighBits: true); break;
                case GgmlType.Q6_K: DequantizeQ6K(block, y); break;
            }
        }

        return output;
    }

    private static float[] DequantizeQ8K(byte[] data)
    {
        int blocks = data.Length / Q8KBlockBytes;
        float[] output = new float[blocks * BlockSize];
        for (int i = 0; i < blocks; i++)
        {
            ReadOnlySpan<byte> block = data.AsSpan(i * Q8KBlockBytes, Q8KBlockBytes);
            float d = BinaryPrimitives.ReadSingleLittleEndian(block);
            for (int j = 0; j < BlockSize; j++)
            {
                output[i * BlockSize + j] = d * (sbyte)block[4 + j];
            }
        }

        return output;
    }

    // scales[16] (low nibble scale, high nibble min, per 16 weights), qs[64], half d, half dmin.
    // Weight k: 128-chunk c = k/128, within it shift group g = (k%128)/32 picks bits 2g of qs[32c + k%32].
    private static void DequantizeQ2K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = ReadHalf(block[80..]), dmin = ReadHalf(block[82..]);
        for (int k = 0; k < BlockSize; k++)
        {
            int c = k / 128, g = k % 128 / 32, l = k % 32;
            int q = (block[16 + 32 * c + l] >> (2 * g)) & 3;
            byte sc = block[k / 16];
            y[k] = d * (sc & 0xF) * q - dmin * (sc >> 4);
        }
    }

    // hmask[32], qs[64], scales[12] (16 six-bit scales, offset 32), half d. Weight = d·(scale−32)·(q2 | h<<2 − 4).
    private static void DequantizeQ3K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = ReadHalf(block[108..]);
        ReadOnlySpan<byte> packed = block.Slice(96, 12);
        for (int k = 0; k < BlockSize; k++)
        {
            int c = k / 128, g = k % 128 / 32, l = k % 32;
            int low = (block[32 + 32 * c + l] >> (2 * g)) & 3;
            int high = (block[l] >> (4 * c + g)) & 1;
            int s = k / 16;
            int scale = (s < 8 ? packed[s] & 0xF : packed[s - 8] >> 4) | (((packed[8 + s % 4] >> (2 * (s / 4))) & 3) << 4);
            y[k] = d * (scale - 32) * (low + 4 * high - 4);
        }
    }

    // half d, half dmin, scales[12] (8 six-bit scales, 8 six-bit mins), [qh[32] for Q5_K], qs[128].
    private static void DequantizeQ4KOrQ5K(ReadOnlySpan<byte> block, Span<float> y, bool hasHighBits)
    {
        float d = ReadHalf(block), dmin = ReadHalf(block[2..]);
        ReadOnlySpan<byte> packed = block.Slice(4, 12);
        ReadOnlySpan<byte> qh = block.Slice(16, 32);
        ReadOnlySpan<byte> qs = block.Slice(hasHighBits ? 48 : 16, 128);
        for (int k = 0; k < BlockSize; k++)
        {
            int s = k / 32, l = k % 32;
            int q = (qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 0xF;
            if (hasHighBits)
            {
                q |= ((qh[l] >> s) & 1) << 4;
            }

            int scale, min;
            if (s < 4)
            {
                scale = packed[s] & 63;
                min = packed[s + 4] & 63;
            }
            else
            {
                scale = (packed[s + 4] & 0xF) | ((packed[s - 4] >> 6) << 4);
                min = (packed[s + 4] >> 4) | ((packed[s] >> 6) << 4);
            }

            y[k] = d * scale * q - dmin * min;
        }
    }

    // ql[128], qh[64], scales[16] (int8), half d. Weight = d·scale·(q6 − 32).
    private static void DequantizeQ6K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = ReadHalf(block[208..]);
        for (int k = 0; k < BlockSize; k++)
        {
            int c = k / 128, g = k % 128 / 32, l = k % 32;
            int low = (block[64 * c + 32 * (g % 2) + l] >> (4 * (g / 2))) & 0xF;
            int high = (block[128 + 32 * c + l] >> (2 * g)) & 3;
            y[k] = d * (sbyte)block[192 + k / 16] * ((low | (high << 4)) - 32);
        }
    }
}
