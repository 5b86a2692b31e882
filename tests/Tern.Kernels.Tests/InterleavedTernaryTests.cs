using System.Buffers.Binary;
using Tern.Gguf;

namespace Tern.Kernels.Tests;

/// <summary>
/// What the two ternary types share (<see cref="InterleavedTQ2_0Tests"/>, <see cref="InterleavedTQ1_0Tests"/>): rows
/// repacked sixteen at a time into one 2-bit layout (<see cref="Dot.InterleavedTQ2_0"/>), against Q8_K activations with
/// offsets, matched to the type's own scalar dot product.
/// </summary>
public abstract class InterleavedTernaryTests : RepackedLayoutTests
{
    // One row, whole groups of 16 and a partial last group; one token to nine (pairs and a last odd token); 1 to 5 blocks.
    public static new TheoryData<int, int, int> RowsTokensAndBlocks() => new()
    {
        { 1, 1, 1 }, { 8, 1, 2 }, { 9, 2, 3 }, { 16, 3, 2 }, { 17, 4, 5 }, { 24, 5, 1 }, { 3, 6, 2 }, { 40, 7, 2 }, { 13, 8, 1 }, { 33, 9, 2 },
    };

    public static new TheoryData<int, int, int, int> MatMulCases() => new()
    {
        { 16, 256, 1, 1 }, { 100, 512, 1, 2 }, { 36, 256, 13, 2 }, { 1000, 256, 3, 2 }, { 24, 8192, 9, 2 },
    };

    protected override double Reference(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => Weights.DotScalar!(weights, activations);

    /// <summary>Both sum exact integers per block; only the float products and sums of the block results round.</summary>
    protected override double Tolerance(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        1e-6 * DequantizedDot(weights, activations).Magnitude + 1e-30;

    /// <summary>The scale d is the block's last two bytes in both types.</summary>
    protected override void MakeSpecialScales(Span<byte> block, int i)
    {
        if (i < SpecialHalves.Length)
            BinaryPrimitives.WriteUInt16LittleEndian(block[^2..], SpecialHalves[i]);
    }

    /// <summary>Activations ±127 against the largest codes: the int16 sums of the AVX2 path at their limits, which the
    /// scalar twin (plain ints) would expose if they saturated.</summary>
    protected override void MakeExtremeActivation(Span<byte> block, int i) => FillQ8_K(block, i % 2 == 0 ? (sbyte)-127 : (sbyte)127);
}
