using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Dot;

namespace Tern.Kernels.Tests;

/// <summary>
/// The dot kernels of the non-K types: the SIMD path against its scalar twin, and the scalar twin against a plain
/// double-precision dot of values dequantized here straight from the block layouts.
/// </summary>
public class DotTests
{
    public delegate float DotKernel(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);

    private static (GgmlType Activation, DotKernel Dot, DotKernel Scalar) Kernels(GgmlType weight) => weight switch
    {
        GgmlType.F32 => (GgmlType.F32, DotF32.Dot, DotF32.Scalar),
        GgmlType.F16 => (GgmlType.F16, DotF16.Dot, DotF16.Scalar),
        GgmlType.BF16 => (GgmlType.BF16, DotBF16.Dot, DotBF16.Scalar),
        GgmlType.Q4_0 => (GgmlType.Q8_0, DotQ4_0.Dot, DotQ4_0.Scalar),
        GgmlType.Q4_1 => (GgmlType.Q8_1, DotQ4_1.Dot, DotQ4_1.Scalar),
        GgmlType.Q5_0 => (GgmlType.Q8_0, DotQ5_0.Dot, DotQ5_0.Scalar),
        GgmlType.Q5_1 => (GgmlType.Q8_1, DotQ5_1.Dot, DotQ5_1.Scalar),
        GgmlType.Q8_0 => (GgmlType.Q8_0, DotQ8_0.Dot, DotQ8_0.Scalar),
        GgmlType.TQ1_0 => (GgmlType.Q8_K, DotTQ1_0.Dot, DotTQ1_0.Scalar),
        GgmlType.TQ2_0 => (GgmlType.Q8_K, DotTQ2_0.Dot, DotTQ2_0.Scalar),
        _ => throw new ArgumentOutOfRangeException(nameof(weight)),
    };

    public static TheoryData<GgmlType, int> TypesAndSizes()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.TQ1_0, GgmlType.TQ2_0 })
        {
            foreach (var blocks in new[] { 1, 2, 7, 64 })
            {
                data.Add(type, blocks);
            }
        }

        // Float types: a block is one element; these lengths reach every main loop and tail.
        foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.BF16 })
        {
            foreach (var elements in new[] { 1, 7, 8, 15, 16, 31, 33, 100, 2053 })
            {
                data.Add(type, elements);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TypesAndSizes))]
    public void Dot_matches_scalar_reference_on_random_blocks(GgmlType type, int blocks)
    {
        var (activationType, dot, scalar) = Kernels(type);
        var rng = new Random(1000 * (int)type + blocks);
        for (int trial = 0; trial < 5; trial++)
        {
            var (weights, activations) = MakeRows(type, activationType, blocks, rng);
            float expected = scalar(weights, activations);
            float actual = dot(weights, activations);
            // Both sum the same exact per-block integers; only the float summation order differs.
            double tolerance = 1e-5 * MagnitudeBound(type, weights, activationType, activations) + 1e-30;
            Assert.True(Math.Abs(actual - expected) <= tolerance, $"{type} x{blocks}: dot {actual} vs scalar {expected} (tolerance {tolerance})");
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndSizes))]
    public void Scalar_matches_dot_of_dequantized_values(GgmlType type, int blocks)
    {
        var (activationType, _, scalar) = Kernels(type);
        var rng = new Random(7000 * (int)type + blocks);
        for (int trial = 0; trial < 5; trial++)
        {
            var (weights, activations) = MakeRows(type, activationType, blocks, rng);
            var x = Dequantize(type, weights);
            var y = Dequantize(activationType, activations);
            double expected = 0;
            for (int i = 0; i < x.Length; i++)
            {
                expected += x[i] * y[i];
            }

            float actual = scalar(weights, activations);
            double tolerance = 1e-5 * MagnitudeBound(type, weights, activationType, activations) + RoundedSumSlack(type, weights, activations) + 1e-30;
            Assert.True(Math.Abs(actual - expected) <= tolerance, $"{type} x{blocks}: scalar {actual} vs dequantized {expected} (tolerance {tolerance})");
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.TQ2_0)]
    public void Dot_with_extreme_quants_matches_scalar(GgmlType type)
    {
        // Largest products the formats allow: every pairwise sum near the int16 limit of vpmaddubsw.
        var (activationType, dot, scalar) = Kernels(type);
        var (weights, activations) = MakeRows(type, activationType, 8, new Random(3));
        var aSize = GgmlTypeSizes.Get(activationType);
        for (int b = 0; b < 8; b++)
        {
            var block = activations.AsSpan(b * aSize.BytesPerBlock, aSize.BytesPerBlock);
            int qsOffset = activationType == GgmlType.Q8_K ? 4 : 2;
            int count = aSize.BlockSize;
            for (int i = 0; i < count; i++)
            {
                block[qsOffset + i] = (byte)(sbyte)(b % 2 == 0 ? 127 : -127);
            }

            if (activationType == GgmlType.Q8_K)
            {
                for (int g = 0; g < 16; g++)
                {
                    BinaryPrimitives.WriteInt16LittleEndian(block[(260 + 2 * g)..], (short)(16 * (b % 2 == 0 ? 127 : -127)));
                }
            }
        }

        var wSize = GgmlTypeSizes.Get(type);
        for (int b = 0; b < 8; b++)
        {
            var block = weights.AsSpan(b * wSize.BytesPerBlock, wSize.BytesPerBlock);
            switch (type)
            {
                case GgmlType.Q4_0:
                    block[2..].Fill(b % 4 < 2 ? (byte)0x00 : (byte)0xFF); // all −8 or all 7
                    break;
                case GgmlType.Q8_0:
                    block[2..].Fill((byte)(sbyte)(b % 4 < 2 ? -128 : 127));
                    break;
                case GgmlType.TQ2_0:
                    block[..64].Fill(b % 4 < 2 ? (byte)0x00 : (byte)0xAA); // all −1 or all +1
                    break;
            }
        }

        float expected = scalar(weights, activations);
        float actual = dot(weights, activations);
        Assert.True(Math.Abs(actual - expected) <= 1e-5 * MagnitudeBound(type, weights, activationType, activations), $"dot {actual} vs scalar {expected}");
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.TQ1_0)]
    [InlineData(GgmlType.F16)]
    public void Dot_rejects_rows_of_different_block_counts(GgmlType type)
    {
        var (activationType, dot, scalar) = Kernels(type);
        var rng = new Random(5);
        var weights = RandomBlocks.Make(type, 3 * GgmlTypeSizes.Get(activationType).BlockSize / GgmlTypeSizes.Get(type).BlockSize, rng);
        var fewer = RandomBlocks.Make(activationType, 2, rng);
        var partial = RandomBlocks.Make(activationType, 3, rng)[..^1];
        Assert.Throws<ArgumentException>(() => dot(weights, fewer));
        Assert.Throws<ArgumentException>(() => scalar(weights, fewer));
        Assert.Throws<ArgumentException>(() => dot(weights, partial));
        Assert.Throws<ArgumentException>(() => dot(weights[..^1], RandomBlocks.Make(activationType, 3, rng)));
    }

    [Fact]
    public void Half_row_conversion_is_exact_for_every_bit_pattern()
    {
        var halves = new Half[65536];
        for (int i = 0; i < halves.Length; i++)
        {
            halves[i] = BitConverter.UInt16BitsToHalf((ushort)i);
        }

        var vector = new float[halves.Length];
        var scalar = new float[halves.Length];
        HalfConversion.ToSingle(halves, vector);
        HalfConversion.ToSingleScalar(halves, scalar);
        for (int i = 0; i < halves.Length; i++)
        {
            float expected = (float)halves[i];
            AssertSameFloat(expected, scalar[i], i);
            AssertSameFloat(expected, vector[i], i);
            AssertSameFloat(expected, HalfConversion.ToSingle((ushort)i), i);
        }
    }

    [Fact]
    public unsafe void Half_rows_of_normals_take_the_short_path_and_any_special_value_the_exact_one()
    {
        var rng = new Random(5);
        // Every half in one row (zeros, subnormals, infinities and NaNs among them), then rows of normal halves
        // only, then normal rows with one special value at each position.
        var rows = new List<ushort[]> { Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray() };
        ushort Normal() => (ushort)((rng.Next(2) << 15) | (rng.Next(1, 31) << 10) | rng.Next(1024));
        for (int r = 0; r < 8; r++)
            rows.Add(Enumerable.Range(0, 64).Select(_ => Normal()).ToArray());
        foreach (ushort special in new ushort[] { 0x0000, 0x8000, 0x0001, 0x83FF, 0x7C00, 0xFC00, 0x7E01 })
        {
            for (int at = 0; at < 16; at += 5)
            {
                var row = Enumerable.Range(0, 16).Select(_ => Normal()).ToArray();
                row[at] = special;
                rows.Add(row);
            }
        }

        foreach (var row in rows)
        {
            var output = new float[row.Length];
            fixed (ushort* s = row)
            fixed (float* o = output)
                HalfConversion.ToSingleRow((short*)s, o, row.Length);
            for (int i = 0; i < row.Length; i++)
                AssertSameFloat((float)BitConverter.UInt16BitsToHalf(row[i]), output[i], row[i]);
        }
    }

    [Fact]
    public void Half_row_conversion_handles_every_tail_length()
    {
        var rng = new Random(11);
        for (int n = 0; n <= 40; n++)
        {
            var halves = new Half[n];
            for (int i = 0; i < n; i++)
            {
                halves[i] = BitConverter.UInt16BitsToHalf((ushort)rng.Next(65536));
            }

            var output = new float[n + 1];
            output[n] = 42f;
            HalfConversion.ToSingle(halves, output);
            for (int i = 0; i < n; i++)
            {
                AssertSameFloat((float)halves[i], output[i], i);
            }

            Assert.Equal(42f, output[n]); // nothing written past the source length
        }

        Assert.Throws<ArgumentException>(() => HalfConversion.ToSingle(new Half[9], new float[8]));
    }

    private static void AssertSameFloat(float expected, float actual, int bits)
    {
        // NaN payloads aside: any NaN is the right answer for a NaN.
        bool same = float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual);
        Assert.True(same, $"half 0x{bits:X4}: expected {expected} (0x{BitConverter.SingleToUInt32Bits(expected):X8}), got {actual} (0x{BitConverter.SingleToUInt32Bits(actual):X8})");
    }

    private static (byte[] Weights, byte[] Activations) MakeRows(GgmlType type, GgmlType activationType, int blocks, Random rng)
    {
        var weights = RandomBlocks.Make(type, blocks, rng);
        int elements = RandomBlocks.Elements(type, blocks);
        var activations = RandomBlocks.Make(activationType, elements / GgmlTypeSizes.Get(activationType).BlockSize, rng);
        return (weights, activations);
    }

    /// <summary>Σ |x_i·y_i|: the scale against which float rounding is judged.</summary>
    private static double MagnitudeBound(GgmlType type, byte[] weights, GgmlType activationType, byte[] activations)
    {
        var x = Dequantize(type, weights);
        var y = Dequantize(activationType, activations);
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sum += Math.Abs(x[i] * y[i]);
        }

        // Q4_1/Q5_1 use the stored m·s per block; count it too so the bound never falls below its size.
        return sum + RoundedSumSlack(type, weights, activations) * 1024;
    }

    /// <summary>
    /// Q4_1/Q5_1 kernels use Q8_1's stored s = d·Σq, rounded to half, where the dequantized dot has the exact
    /// d·Σq: allow |m|·|s|·2^-10 per block for that (half rounding is within 2^-11 relative).
    /// </summary>
    private static double RoundedSumSlack(GgmlType type, byte[] weights, byte[] activations)
    {
        if (type is not (GgmlType.Q4_1 or GgmlType.Q5_1))
        {
            return 0;
        }

        int wBytes = GgmlTypeSizes.Get(type).BytesPerBlock;
        double slack = 0;
        for (int b = 0; b < weights.Length / wBytes; b++)
        {
            slack += Math.Abs(ReadHalf(weights, b * wBytes + 2) * ReadHalf(activations, b * 36 + 2)) / 1024;
        }

        return slack;
    }

    private static double ReadHalf(ReadOnlySpan<byte> bytes, int offset) => (double)BinaryPrimitives.ReadHalfLittleEndian(bytes[offset..]);

    /// <summary>Values of a row, decoded here from the ggml block layouts (independently of the kernels).</summary>
    private static double[] Dequantize(GgmlType type, byte[] row)
    {
        var size = GgmlTypeSizes.Get(type);
        int blocks = row.Length / size.BytesPerBlock;
        var values = new double[blocks * size.BlockSize];
        for (int b = 0; b < blocks; b++)
        {
            var x = row.AsSpan(b * size.BytesPerBlock, size.BytesPerBlock);
            var v = values.AsSpan(b * size.BlockSize, size.BlockSize);
            switch (type)
            {
                case GgmlType.F32:
                    v[0] = BinaryPrimitives.ReadSingleLittleEndian(x);
                    break;
                case GgmlType.F16:
                    v[0] = ReadHalf(x, 0);
                    break;
                case GgmlType.BF16:
                    v[0] = BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(x) << 16);
                    break;
                case GgmlType.Q4_0: // d | qs[16]: low nibbles are elements 0..15, high nibbles 16..31
                    for (int j = 0; j < 32; j++)
                    {
                        v[j] = ReadHalf(x, 0) * (Nibble(x[2..], j) - 8);
                    }

                    break;
                case GgmlType.Q4_1: // d | m | qs[16]
                    for (int j = 0; j < 32; j++)
                    {
                        v[j] = ReadHalf(x, 0) * Nibble(x[4..], j) + ReadHalf(x, 2);
                    }

                    break;
                case GgmlType.Q5_0: // d | qh[4] | qs[16]; bit j of qh is element j's fifth bit
                    for (int j = 0; j < 32; j++)
                    {
                        v[j] = ReadHalf(x, 0) * (Nibble(x[6..], j) + 16 * FifthBit(x[2..], j) - 16);
                    }

                    break;
                case GgmlType.Q5_1: // d | m | qh[4] | qs[16]
                    for (int j = 0; j < 32; j++)
                    {
                        v[j] = ReadHalf(x, 0) * (Nibble(x[8..], j) + 16 * FifthBit(x[4..], j)) + ReadHalf(x, 2);
                    }

                    break;
                case GgmlType.Q8_0: // d | qs[32]
                    for (int j = 0; j < 32; j++)
                    {
                        v[j] = ReadHalf(x, 0) * (sbyte)x[2 + j];
                    }

                    break;
                case GgmlType.Q8_1: // d | s | qs[32]
                    for (int j = 0; j < 32; j++)
                    {
                        v[j] = ReadHalf(x, 0) * (sbyte)x[4 + j];
                    }

                    break;
                case GgmlType.Q8_K: // float d | qs[256] | bsums
                    for (int j = 0; j < 256; j++)
                    {
                        v[j] = BinaryPrimitives.ReadSingleLittleEndian(x) * (sbyte)x[4 + j];
                    }

                    break;
                case GgmlType.TQ1_0: // qs[48] | qh[4] | d: a byte b holds the base-3 number floor(243·b/256), first trit most significant
                    {
                        double d = ReadHalf(x, 52);
                        for (int m = 0; m < 32; m++)
                        {
                            for (int l = 0; l < 5; l++)
                            {
                                v[32 * l + m] = d * (BaseThreeDigit(x[m], l) - 1);
                            }
                        }

                        for (int m = 0; m < 16; m++)
                        {
                            for (int l = 0; l < 5; l++)
                            {
                                v[160 + 16 * l + m] = d * (BaseThreeDigit(x[32 + m], l) - 1);
                            }
                        }

                        for (int j = 0; j < 4; j++)
                        {
                            for (int l = 0; l < 4; l++)
                            {
                                v[240 + 4 * l + j] = d * (BaseThreeDigit(x[48 + j], l) - 1);
                            }
                        }

                        break;
                    }

                case GgmlType.TQ2_0: // qs[64] | d: element 128h + 32l + k in bits 2l of qs[32h + k]
                    for (int h = 0; h < 2; h++)
                    {
                        for (int l = 0; l < 4; l++)
                        {
                            for (int k = 0; k < 32; k++)
                            {
                                v[128 * h + 32 * l + k] = ReadHalf(x, 64) * (((x[32 * h + k] >> (2 * l)) & 3) - 1);
                            }
                        }
                    }

                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(type));
            }
        }

        return values;
    }

    private static int Nibble(ReadOnlySpan<byte> qs, int j) => j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;

    private static int FifthBit(ReadOnlySpan<byte> qh, int j) => (int)(BinaryPrimitives.ReadUInt32LittleEndian(qh) >> j) & 1;

    private static int BaseThreeDigit(byte packed, int l)
    {
        int value = packed * 243 / 256;
        for (int i = l; i < 4; i++)
        {
            value /= 3;
        }

        return value % 3;
    }
}
