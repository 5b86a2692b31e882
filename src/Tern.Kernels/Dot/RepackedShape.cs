using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Tern.Kernels.Dot;

/// <summary>What the repacked kernels (<see cref="InterleavedQ4_0"/>, <see cref="InterleavedQ4_K"/>, <see cref="InterleavedIQ4_XS"/>,
/// <see cref="InterleavedTQ2_0"/>) share: their argument checks, the store of a group's last, partial lanes, activation
/// broadcasts and scale picks.</summary>
internal static unsafe class RepackedShape
{
    /// <summary>Weight blocks in a row of <paramref name="cols"/>; throws unless a positive multiple of the block size.</summary>
    public static int BlocksPerRow(int cols, int blockSize, string type) =>
        cols > 0 && cols % blockSize == 0
            ? cols / blockSize
            : throw new ArgumentException($"row length {cols} is not a positive multiple of the {type} block size {blockSize}", nameof(cols));

    /// <summary>
    /// Blocks per row and tokens of one kernel call: <paramref name="groups"/> whole groups for <paramref name="rows"/>
    /// rows, whole activation rows of as many blocks, one offset per block and token when the layout takes offsets
    /// (<paramref name="withOffsets"/>), and room for every token's rows at <paramref name="stride"/>.
    /// </summary>
    public static (int Blocks, int Tokens) Check(ReadOnlySpan<byte> groups, int rows, int groupRows, int groupBlockBytes,
        ReadOnlySpan<byte> activations, int activationBlockBytes, ReadOnlySpan<int> offsets, bool withOffsets, Span<float> output, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        long groupCount = (rows + groupRows - 1) / groupRows;
        if (groups.Length % (groupCount * groupBlockBytes) != 0)
            throw new ArgumentException($"{groups.Length} bytes are not {groupCount} whole groups of {groupBlockBytes}-byte blocks", nameof(groups));
        int blocks = (int)(groups.Length / (groupCount * groupBlockBytes));
        long activationRowBytes = (long)blocks * activationBlockBytes;
        if (blocks == 0 || activations.Length % activationRowBytes != 0)
            throw new ArgumentException($"{activations.Length} activation bytes are not whole rows of {blocks} blocks", nameof(activations));
        int tokens = (int)(activations.Length / activationRowBytes);
        if (withOffsets && offsets.Length != (long)tokens * blocks)
            throw new ArgumentException($"{offsets.Length} offsets for {tokens} activation rows of {blocks} blocks", nameof(activations));
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, rows);
        if (tokens > 0 && output.Length < (long)(tokens - 1) * stride + rows)
            throw new ArgumentException($"output holds {output.Length} floats, {tokens} tokens at stride {stride} need {(long)(tokens - 1) * stride + rows}", nameof(output));
        return (blocks, tokens);
    }

    /// <summary>Stores the first <paramref name="valid"/> of eight lanes (all of them with one vector store).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> values, float* output, int valid)
    {
        if (valid >= 8)
        {
            values.Store(output);
            return;
        }

        for (int r = 0; r < valid; r++)
            output[r] = values.GetElement(r);
    }

    /// <summary>Four activation bytes repeated in every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Broadcast(byte* y) => Vector256.Create(Unsafe.ReadUnaligned<int>(y)).AsSByte();

    /// <summary>Shuffle control that puts byte s % 4 of each 32-bit lane in both of its int16 halves, zero-extended: that
    /// row's byte-sized scale of sub-block s, twice (rows one per lane, four scales per lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> ScalePick(int s) =>
        (Vector256.Create((uint)(s & 3) * 0x00010001u) + Vector256.Create(0x80008000u, 0x80048004u, 0x80088008u, 0x800C800Cu, 0x80008000u, 0x80048004u, 0x80088008u, 0x800C800Cu)).AsByte();
}

/// <summary>Four vector accumulators (one per token of a tile) that a kernel fills for its caller.</summary>
[InlineArray(4)]
internal struct Accumulators4
{
    private Vector256<float> _element;
}
