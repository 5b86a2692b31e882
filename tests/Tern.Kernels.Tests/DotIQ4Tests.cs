using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;
using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>
/// IQ4_NL · Q8_0 and IQ4_XS · Q8_K: the AVX2 kernel against its scalar twin (the same exact integers per block or
/// sub-block, summed in another float order), the scalar twin against a double dot of values dequantized here from
/// the ggml block layout and its 16-value table, and the argument checks a truncated row meets.
/// </summary>
public class DotIQ4Tests
{
    private static readonly sbyte[] Table = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    private static bool Avx2Fma => Avx2.IsSupported && Fma.IsSupported;

    public static TheoryData<GgmlType, int> TypesAndBlockCounts()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (var type in new[] { GgmlType.IQ4_NL, GgmlType.IQ4_XS })
        {
            // Odd counts reach IQ4_NL's last unpaired block.
            foreach (int blocks in new[] { 1, 2, 3, 7, 64 })
                data.Add(type, blocks);
        }

        return data;
    }

    public static TheoryData<GgmlType> Types() => new(GgmlType.IQ4_NL, GgmlType.IQ4_XS);

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void IQ4_dot_matches_scalar_reference_on_random_blocks(GgmlType type, int blocks)
    {
        var (activationType, dot, scalar) = Kernels(type);
        var rng = new Random(100 * (int)type + blocks);
        for (int trial = 0; trial < 5; trial++)
        {
            byte[] weights = RandomBlocks.Make(type, blocks, rng);
            byte[] activations = ActivationsFor(type, activationType, blocks, rng);
            float expected = scalar(weights, activations);
            float actual = dot(weights, activations);
            if (!Avx2Fma)
            {
                // Without AVX2 the entry point is the scalar twin itself.
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual));
                continue;
            }

            double tolerance = 1e-5 * Magnitude(type, weights, activationType, activations);
            Assert.True(Math.Abs(actual - expected) <= tolerance, $"{type} x{blocks}: dot {actual} vs scalar {expected} (tolerance {tolerance})");
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void IQ4_scalar_dot_matches_float_dot_of_dequantized_blocks(GgmlType type, int blocks)
    {
        var (activationType, dot, scalar) = Kernels(type);
        var rng = new Random(7 + 100 * (int)type + blocks);
        for (int trial = 0; trial < 5; trial++)
        {
            byte[] weights = RandomBlocks.Make(type, blocks, rng);
            byte[] activations = ActivationsFor(type, activationType, blocks, rng);
            float[] w = DequantizeFromLayout(type, weights);
            float[] a = Dequantize(activationType, activations);
            double expected = 0;
            for (int i = 0; i < w.Length; i++)
                expected += (double)w[i] * a[i];

            double tolerance = 1e-5 * Magnitude(type, weights, activationType, activations);
            float viaScalar = scalar(weights, activations), viaDot = dot(weights, activations);
            Assert.True(Math.Abs(viaScalar - expected) <= tolerance, $"{type} x{blocks}: scalar {viaScalar} vs float dot {expected}");
            Assert.True(Math.Abs(viaDot - expected) <= tolerance, $"{type} x{blocks}: dot {viaDot} vs float dot {expected}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void IQ4_dot_with_extreme_values_matches_scalar(GgmlType type)
    {
        // Every weight at the table's −127 end against activations of ±127: pair sums at 2·127·127, near the int16 limit.
        var (activationType, dot, scalar) = Kernels(type);
        const int blocks = 9;
        byte[] weights = RandomBlocks.Make(type, blocks, new Random(3));
        byte[] activations = ActivationsFor(type, activationType, blocks, new Random(4));
        int qsOffset = type == GgmlType.IQ4_NL ? IQ4_NL.OffsetQs : IQ4_XS.OffsetQs;
        int blockBytes = GgmlTypeSizes.Get(type).BytesPerBlock;
        for (int b = 0; b < blocks; b++)
            weights.AsSpan(b * blockBytes + qsOffset, blockBytes - qsOffset).Fill(b % 3 == 2 ? (byte)0xFF : (byte)0x00);

        var aSize = GgmlTypeSizes.Get(activationType);
        int aQs = activationType == GgmlType.Q8_K ? Q8_K.OffsetQs : Q8_0.OffsetQs;
        for (int b = 0; b < activations.Length / aSize.BytesPerBlock; b++)
        {
            var block = activations.AsSpan(b * aSize.BytesPerBlock, aSize.BytesPerBlock);
            block.Slice(aQs, aSize.BlockSize).Fill((byte)(sbyte)(b % 2 == 0 ? 127 : -127));
            if (activationType == GgmlType.Q8_K)
            {
                for (int g = 0; g < 16; g++)
                    BinaryPrimitives.WriteInt16LittleEndian(block[(Q8_K.OffsetBsums + 2 * g)..], (short)(16 * (b % 2 == 0 ? 127 : -127)));
            }
        }

        float expected = scalar(weights, activations);
        float actual = dot(weights, activations);
        Assert.True(Math.Abs(actual - expected) <= 1e-5 * Magnitude(type, weights, activationType, activations), $"{type}: dot {actual} vs scalar {expected}");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void IQ4_dot_matches_scalar_with_subnormal_and_zero_half_scales(GgmlType type)
    {
        var (activationType, dot, scalar) = Kernels(type);
        var rng = new Random(31 + (int)type);
        const int blocks = 16;
        byte[] weights = RandomBlocks.Make(type, blocks, rng);
        byte[] activations = ActivationsFor(type, activationType, blocks, rng);
        int blockBytes = GgmlTypeSizes.Get(type).BytesPerBlock;
        for (int b = 0; b < blocks; b++)
        {
            int pick = rng.Next(6);
            ushort bits = pick switch { 0 => 0x0000, 1 => 0x8000, _ => (ushort)(rng.Next(1, 0x400) | (pick % 2 == 0 ? 0x8000 : 0)) };
            BinaryPrimitives.WriteUInt16LittleEndian(weights.AsSpan(b * blockBytes), bits);
        }

        double magnitude = Magnitude(type, weights, activationType, activations);
        float expected = scalar(weights, activations);
        float actual = dot(weights, activations);
        Assert.True(magnitude > 0);
        Assert.True(Math.Abs(actual - expected) <= 1e-6 * magnitude, $"{type}: dot {actual} vs scalar {expected} (scale {magnitude})");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void IQ4_dot_rejects_truncated_or_mismatched_rows(GgmlType type)
    {
        var (activationType, dot, scalar) = Kernels(type);
        var rng = new Random(5);
        byte[] weights = RandomBlocks.Make(type, 2, rng);
        byte[] activations = ActivationsFor(type, activationType, 2, rng);

        var ragged = Assert.Throws<ArgumentException>(() => dot(weights[..^1], activations));
        Assert.Equal("weights", ragged.ParamName);
        Assert.Contains("not whole", ragged.Message);
        Assert.Throws<ArgumentException>(() => scalar(weights[..^1], activations));
        Assert.Equal("activations", Assert.Throws<ArgumentException>(() => dot(weights, activations[..^1])).ParamName);
        int blockBytes = GgmlTypeSizes.Get(type).BytesPerBlock;
        Assert.Equal("activations", Assert.Throws<ArgumentException>(() => dot(weights[..blockBytes], activations)).ParamName);
        Assert.Equal(0f, dot([], []));
        Assert.Equal(0f, scalar([], []));
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void IQ4_dequantize_rejects_a_truncated_block_row(GgmlType type)
    {
        var q = QuantTypes.Get(type);
        byte[] row = RandomBlocks.Make(type, 2, new Random(9));
        var e = Assert.Throws<ArgumentException>(() => q.ToFloat(row[..^1], new float[2 * q.BlockSize]));
        Assert.Equal("blocks", e.ParamName);
        Assert.Contains($"need {2 * q.BytesPerBlock} bytes", e.Message);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void IQ4_dequantize_matches_the_ggml_layout(GgmlType type)
    {
        byte[] row = RandomBlocks.Make(type, 5, new Random(13));
        var q = QuantTypes.Get(type);
        var actual = new float[5 * q.BlockSize];
        q.ToFloat(row, actual);
        Assert.Equal(DequantizeFromLayout(type, row), actual);
    }

    private static (GgmlType Activation, DotRow Dot, DotRow Scalar) Kernels(GgmlType type) => type switch
    {
        GgmlType.IQ4_NL => (GgmlType.Q8_0, DotIQ4_NL.Dot, DotIQ4_NL.Scalar),
        GgmlType.IQ4_XS => (GgmlType.Q8_K, DotIQ4_XS.Dot, DotIQ4_XS.Scalar),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    private static byte[] ActivationsFor(GgmlType type, GgmlType activationType, int blocks, Random rng) =>
        RandomBlocks.Make(activationType, RandomBlocks.Elements(type, blocks) / GgmlTypeSizes.Get(activationType).BlockSize, rng);

    private static float[] Dequantize(GgmlType type, byte[] row)
    {
        var q = QuantTypes.Get(type);
        var output = new float[row.Length / q.BytesPerBlock * q.BlockSize];
        q.ToFloat(row, output);
        return output;
    }

    /// <summary>Σ |x_i·y_i| in doubles: the scale against which float rounding is judged.</summary>
    private static double Magnitude(GgmlType type, byte[] weights, GgmlType activationType, byte[] activations)
    {
        float[] w = DequantizeFromLayout(type, weights), a = Dequantize(activationType, activations);
        double sum = 0;
        for (int i = 0; i < w.Length; i++)
            sum += Math.Abs((double)w[i] * a[i]);
        return sum;
    }

    /// <summary>The weights straight from ggml-common.h's block_iq4_nl / block_iq4_xs, independent of the kernels.</summary>
    private static float[] DequantizeFromLayout(GgmlType type, byte[] row)
    {
        int blockBytes = GgmlTypeSizes.Get(type).BytesPerBlock, blockSize = GgmlTypeSizes.Get(type).BlockSize;
        var output = new float[row.Length / blockBytes * blockSize];
        for (int b = 0; b < row.Length / blockBytes; b++)
        {
            var block = row.AsSpan(b * blockBytes, blockBytes);
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            for (int sub = 0; sub < blockSize / 32; sub++)
            {
                float scale = d;
                ReadOnlySpan<byte> qs = block.Slice(2 + 16 * sub, 16);
                if (type == GgmlType.IQ4_XS)
                {
                    int high = BinaryPrimitives.ReadUInt16LittleEndian(block[2..]);
                    int ls = (block[4 + sub / 2] >> (4 * (sub % 2)) & 0xF) | ((high >> (2 * sub)) & 3) << 4;
                    scale = d * (ls - 32);
                    qs = block.Slice(8 + 16 * sub, 16);
                }

                for (int j = 0; j < 16; j++)
                {
                    output[b * blockSize + 32 * sub + j] = scale * Table[qs[j] & 0xF];
                    output[b * blockSize + 32 * sub + j + 16] = scale * Table[qs[j] >> 4];
                }
            }
        }

        return output;
    }
}
