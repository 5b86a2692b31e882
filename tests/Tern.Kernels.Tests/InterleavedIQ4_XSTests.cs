using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>IQ4_XS rows repacked eight at a time (<see cref="InterleavedIQ4_XS"/>) against <see cref="DotIQ4_XS.Scalar"/>.</summary>
public sealed class InterleavedIQ4_XSTests : RepackedLayoutTests
{
    protected override GgmlType WeightType => GgmlType.IQ4_XS;

    protected override double Reference(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DotIQ4_XS.Scalar(weights, activations);

    /// <summary>
    /// Both sides hold the same exact integer per sub-block. The reference rounds three times per sub-block
    /// (d·(ls − 32), times the integer, the sum) and once for d·dy; the kernel three times per block (d·dy, the
    /// integer's conversion, the fma). Each rounding is within 2^-24 of a partial sum no larger than the magnitude
    /// Σ |d·dy|·|ls − 32|·Σ |value·y| of all terms.
    /// </summary>
    protected override double Tolerance(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int blocks = weights.Length / IQ4_XS.BlockBytes;
        double magnitude = 0;
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * IQ4_XS.BlockBytes, IQ4_XS.BlockBytes);
            var y = activations.Slice(b * Q8_K.BlockBytes, Q8_K.BlockBytes);
            double d = Math.Abs((double)BinaryPrimitives.ReadHalfLittleEndian(x) * BinaryPrimitives.ReadSingleLittleEndian(y));
            for (int s = 0; s < 8; s++)
            {
                double dot = 0;
                for (int l = 0; l < 16; l++)
                {
                    int q = x[IQ4_XS.OffsetQs + 16 * s + l];
                    dot += Math.Abs(IQ4_NL.Values[q & 0x0F] * (sbyte)y[Q8_K.OffsetQs + 32 * s + l])
                         + Math.Abs(IQ4_NL.Values[q >> 4] * (sbyte)y[Q8_K.OffsetQs + 32 * s + 16 + l]);
                }

                magnitude += d * Math.Abs(IQ4_XS.Scale(x, s) - 32) * dot;
            }
        }

        return 32 * blocks * Math.Pow(2, -24) * magnitude + 1e-30;
    }

    protected override void MakeSpecialScales(Span<byte> block, int i)
    {
        if (i < SpecialHalves.Length)
            BinaryPrimitives.WriteUInt16LittleEndian(block, SpecialHalves[i]);
    }

    /// <summary>Every scale at −32 or +31 with every weight at the table's ends (−127, 113) or mixed.</summary>
    protected override void MakeExtreme(Span<byte> block, int i)
    {
        bool largest = i % 2 == 0;
        BinaryPrimitives.WriteUInt16LittleEndian(block[IQ4_XS.OffsetScalesH..], largest ? (ushort)0xFFFF : (ushort)0);
        block.Slice(IQ4_XS.OffsetScalesL, 4).Fill(largest ? (byte)0xFF : (byte)0);
        block.Slice(IQ4_XS.OffsetQs, 128).Fill(i % 3 == 0 ? (byte)0x00 : i % 3 == 1 ? (byte)0xFF : (byte)0xF0);
    }

    /// <summary>Activations ±127: Q8_K's quantizer maps the largest magnitude to −127 and never writes −128, which the
    /// sign trick (negating y) could not represent.</summary>
    protected override void MakeExtremeActivation(Span<byte> block, int i) => FillQ8_K(block, i % 2 == 0 ? (sbyte)127 : (sbyte)-127);

    [Fact]
    public void IQ4_XS_has_this_repacked_layout_in_the_quant_table()
    {
        Assert.Same(InterleavedIQ4_XS.Layout, QuantTypes.Get(GgmlType.IQ4_XS).Repacked);
        Assert.Equal(InterleavedIQ4_XS.Bytes(100, 512), QuantTypes.Get(GgmlType.IQ4_XS).RepackedBytes(100, 512));
        Assert.Equal(0, InterleavedIQ4_XS.GroupBlockBytes % 32); // every chunk a whole aligned vector
    }

    [Fact]
    public void Scales_unpack_as_the_block_format_says()
    {
        // Rows whose sub-block s has ls = 2s + 8r (every bit pattern of scales_h and scales_l in use), all weights
        // value 1 (nibble 8), against activations of 1: row r's dot is d·dy·Σ_s 32·(ls − 32), and the reference's.
        const int rows = 8;
        var matrix = new byte[rows * IQ4_XS.BlockBytes];
        for (int r = 0; r < rows; r++)
        {
            var block = matrix.AsSpan(r * IQ4_XS.BlockBytes, IQ4_XS.BlockBytes);
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)0.5);
            int high = 0;
            for (int s = 0; s < 8; s++)
            {
                int ls = (2 * s + 8 * r) % 64;
                block[IQ4_XS.OffsetScalesL + s / 2] |= (byte)((ls & 0x0F) << (4 * (s % 2)));
                high |= (ls >> 4) << (2 * s);
            }

            BinaryPrimitives.WriteUInt16LittleEndian(block[IQ4_XS.OffsetScalesH..], (ushort)high);
            block.Slice(IQ4_XS.OffsetQs, 128).Fill(0x88);
        }

        var activations = new byte[Q8_K.BlockBytes];
        BinaryPrimitives.WriteSingleLittleEndian(activations, 1f);
        activations.AsSpan(Q8_K.OffsetQs, 256).Fill(1);
        var groups = new byte[InterleavedIQ4_XS.Bytes(rows, 256)];
        InterleavedIQ4_XS.Repack(matrix, rows, 256, 0, groups);
        var output = new float[rows];
        InterleavedIQ4_XS.Dot(groups, rows, activations, output, rows);
        for (int r = 0; r < rows; r++)
        {
            int expected = 0;
            for (int s = 0; s < 8; s++)
                expected += 32 * ((2 * s + 8 * r) % 64 - 32);
            Assert.Equal(0.5f * expected, output[r]);
            Assert.Equal(DotIQ4_XS.Scalar(matrix.AsSpan(r * IQ4_XS.BlockBytes, IQ4_XS.BlockBytes), activations), output[r]);
        }
    }
}
