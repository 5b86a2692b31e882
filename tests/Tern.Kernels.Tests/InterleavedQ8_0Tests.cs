using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>Q8_0 rows repacked eight at a time (<see cref="InterleavedQ8_0"/>) against <see cref="DotQ8_0.Scalar"/>.</summary>
public sealed class InterleavedQ8_0Tests : RepackedLayoutTests
{
    protected override GgmlType WeightType => GgmlType.Q8_0;

    protected override double Reference(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DotQ8_0.Scalar(weights, activations);

    /// <summary>
    /// Both sides hold the same exact integer per block (at most 32·128·127, exact as a float). The reference rounds
    /// three times per block (dx·dy, times the integer, the sum), the kernel twice (dx·dy, the fma); each rounding is
    /// within 2^-24 of a partial sum no larger than the magnitude Σ |dx·dy|·Σ |w·y| of all terms.
    /// </summary>
    protected override double Tolerance(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int blocks = weights.Length / Q8_0.BlockBytes;
        double magnitude = 0;
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * Q8_0.BlockBytes, Q8_0.BlockBytes);
            var y = activations.Slice(b * Q8_0.BlockBytes, Q8_0.BlockBytes);
            double dot = 0;
            for (int l = 0; l < 32; l++)
                dot += Math.Abs((sbyte)x[Q8_0.OffsetQs + l] * (sbyte)y[Q8_0.OffsetQs + l]);
            magnitude += Math.Abs((double)BinaryPrimitives.ReadHalfLittleEndian(x) * (double)BinaryPrimitives.ReadHalfLittleEndian(y)) * dot;
        }

        return 8 * blocks * Math.Pow(2, -24) * magnitude + 1e-30;
    }

    protected override void MakeSpecialScales(Span<byte> block, int i)
    {
        if (i < SpecialHalves.Length)
            BinaryPrimitives.WriteUInt16LittleEndian(block, SpecialHalves[i]);
    }

    /// <summary>Weights at −128 (a file may hold it; |w| = 128 still fits vpmaddubsw's unsigned side), −127 and 127, with the largest half scale.</summary>
    protected override void MakeExtreme(Span<byte> block, int i)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(block, 0x7BFF);
        block.Slice(Q8_0.OffsetQs, 32).Fill(i % 3 == 0 ? (byte)0x80 : i % 3 == 1 ? (byte)0x7F : (byte)0x81);
    }

    /// <summary>Activations ±127: Q8_0's quantizer never writes −128, which the sign trick (negating y) could not represent.</summary>
    protected override void MakeExtremeActivation(Span<byte> block, int i)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(block, 0x3C00);
        block.Slice(Q8_0.OffsetQs, 32).Fill(i % 2 == 0 ? (byte)0x7F : (byte)0x81);
    }

    [Fact]
    public void Q8_0_has_this_repacked_layout_in_the_quant_table_at_the_files_size()
    {
        Assert.Same(InterleavedQ8_0.Layout, QuantTypes.Get(GgmlType.Q8_0).Repacked);
        Assert.Equal(QuantTypes.Get(GgmlType.Q8_0).RowBytes(512) * 104, QuantTypes.Get(GgmlType.Q8_0).RepackedBytes(100, 512)); // 13 groups of 8
    }
}
