using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>Q4_0 rows repacked eight at a time (<see cref="Dot.InterleavedQ4_0"/>, a layout with activation offsets)
/// against the exact Q4_0 · Q8_0 dot products.</summary>
public sealed class InterleavedQ4_0Tests : RepackedLayoutTests
{
    protected override GgmlType WeightType => GgmlType.Q4_0;

    // One row, whole groups and a partial last group; tokens below, at and past the four-token tile (remainders of 1 to 3 tokens); 1 to 7 blocks.
    public static new TheoryData<int, int, int> RowsTokensAndBlocks() => new()
    {
        { 1, 1, 1 }, { 8, 1, 2 }, { 9, 3, 3 }, { 16, 4, 2 }, { 17, 5, 7 }, { 24, 9, 4 }, { 3, 8, 1 }, { 40, 2, 5 }, { 12, 6, 3 }, { 8, 7, 2 },
    };

    public static new TheoryData<int, int, int, int> MatMulCases() => new()
    {
        { 8, 64, 1, 1 }, { 100, 256, 1, 2 }, { 36, 96, 13, 2 }, { 1000, 64, 3, 2 }, { 24, 8192, 33, 2 },
    };

    /// <summary>The exact dot of the dequantized rows: d·(q − 8) and dy·y are exact floats, their products exact doubles.</summary>
    protected override double Reference(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DequantizedDot(weights, activations).Dot;

    /// <summary>Exact integers per block; only the float products and sums of the block results round.</summary>
    protected override double Tolerance(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        1e-6 * DequantizedDot(weights, activations).Magnitude + 1e-30;

    protected override void MakeSpecialScales(Span<byte> block, int i)
    {
        if (i < SpecialHalves.Length)
            BinaryPrimitives.WriteUInt16LittleEndian(block[Q4_0.OffsetD..], SpecialHalves[i]);
    }

    /// <summary>Nibbles 0 and 15 (mixed or alike) against activations ±127: the int16 pair sums of the plain AVX2 path
    /// at their limits, which the scalar twin (plain ints) would expose if they saturated.</summary>
    protected override void MakeExtreme(Span<byte> block, int i) =>
        block.Slice(Q4_0.OffsetQs, 16).Fill(i % 3 == 0 ? (byte)0xFF : i % 3 == 1 ? (byte)0x00 : (byte)0x0F);

    protected override void MakeExtremeActivation(Span<byte> block, int i) =>
        block.Slice(Q8_0.OffsetQs, 32).Fill(i % 2 == 0 ? unchecked((byte)-127) : (byte)127);
}
