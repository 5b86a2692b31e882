using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>Q4_K rows repacked eight at a time (<see cref="InterleavedQ4_K"/>) against <see cref="DotQ4_K.Scalar"/>.</summary>
public sealed class InterleavedQ4_KTests : RepackedLayoutTests
{
    protected override GgmlType WeightType => GgmlType.Q4_K;

    protected override double Reference(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DotQ4_K.Scalar(weights, activations);

    /// <summary>
    /// Both hold the same exact integers per block and differ only in how the block terms d·dy·q and dmin·dy·m are
    /// rounded and summed. Per block the kernel rounds 6 times (two int→float conversions, two scale products, two
    /// fmas), the reference 8 (the same conversions, four products, a difference, a sum); each rounding is within
    /// 2^-24 of a partial sum no larger than the magnitude of all terms.
    /// </summary>
    protected override double Tolerance(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        14 * (weights.Length / Q4_K.BlockBytes) * Math.Pow(2, -24) * Magnitude(weights, activations) + 1e-30;

    /// <summary>Special halves for d (blocks 0 to 3) and for dmin (blocks 4 to 7).</summary>
    protected override void MakeSpecialScales(Span<byte> block, int i) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block[(i < 4 ? Q4_K.OffsetD : Q4_K.OffsetDmin)..], SpecialHalves[i % 4]);

    /// <summary>Nibbles 0 and 15 (mixed or alike) with every scale and min 63: with activations ±127 and −128 the
    /// int16 sums of the AVX2 path at their limits, which the scalar twin (plain ints) would expose if they saturated.</summary>
    protected override void MakeExtreme(Span<byte> block, int i)
    {
        block.Slice(Q4_K.OffsetScales, 12).Fill(0xFF);
        block.Slice(Q4_K.OffsetQs, 128).Fill(i % 3 == 0 ? (byte)0xFF : i % 3 == 1 ? (byte)0x00 : (byte)0x0F);
    }

    protected override void MakeExtremeActivation(Span<byte> block, int i) =>
        FillQ8_K(block, i % 3 == 0 ? (sbyte)-128 : i % 3 == 1 ? (sbyte)127 : (sbyte)-127);

    [Fact]
    public void Q4_K_has_this_repacked_layout_in_the_quant_table()
    {
        Assert.Same(InterleavedQ4_K.Layout, QuantTypes.Get(GgmlType.Q4_K).Repacked);
        Assert.Equal(InterleavedQ4_K.Bytes(100, 512), QuantTypes.Get(GgmlType.Q4_K).RepackedBytes(100, 512));
        Assert.Equal(8 * 144, InterleavedQ4_K.GroupBlockBytes);
    }

    /// <summary>Σ over blocks of |dy|·(|d|·Σ_s scale·Σ q·|y| + |dmin|·Σ_s min·|Σ y|): the size of the terms that are rounded.</summary>
    private static double Magnitude(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        double magnitude = 0;
        for (int b = 0; b < weights.Length / Q4_K.BlockBytes; b++)
        {
            var x = weights.Slice(b * Q4_K.BlockBytes, Q4_K.BlockBytes);
            var y = activations.Slice(b * Q8_K.BlockBytes, Q8_K.BlockBytes);
            double d = Math.Abs((double)BinaryPrimitives.ReadHalfLittleEndian(x[Q4_K.OffsetD..]));
            double dmin = Math.Abs((double)BinaryPrimitives.ReadHalfLittleEndian(x[Q4_K.OffsetDmin..]));
            for (int s = 0; s < 8; s++)
            {
                var (scale, min) = Q4_K.ScaleMin(x.Slice(Q4_K.OffsetScales, 12), s);
                double dot = 0, sum = 0;
                for (int l = 0; l < 32; l++)
                {
                    int q = (x[Q4_K.OffsetQs + 32 * (s / 2) + l] >> (4 * (s % 2))) & 0x0F;
                    sbyte q8 = (sbyte)y[Q8_K.OffsetQs + 32 * s + l];
                    dot += q * Math.Abs((int)q8);
                    sum += q8;
                }

                magnitude += Math.Abs((double)BinaryPrimitives.ReadSingleLittleEndian(y[Q8_K.OffsetD..])) * (d * scale * dot + dmin * min * Math.Abs(sum));
            }
        }

        return magnitude;
    }
}
