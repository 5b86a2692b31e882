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
    /// Blocks per row and bytes per row of a repack call: <paramref name="matrix"/> holds [rows, cols] of the type,
    /// <paramref name="group"/> is one of its groups of <paramref name="groupRows"/>, and <paramref name="destination"/>
    /// holds exactly one group.
    /// </summary>
    public static (int Blocks, int RowBytes) CheckRepack(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination,
        string type, int blockSize, int blockBytes, int groupRows, int groupBlockBytes)
    {
        int blocks = BlocksPerRow(cols, blockSize, type);
        long rowBytes = (long)blocks * blockBytes;
        if (matrix.Length != rowBytes * rows)
            throw new ArgumentException($"matrix holds {matrix.Length} bytes, a [{rows}, {cols}] {type} matrix needs {rowBytes * rows}", nameof(matrix));
        ArgumentOutOfRangeException.ThrowIfNegative(group);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(group, (rows + groupRows - 1) / groupRows);
        if (destination.Length != (long)blocks * groupBlockBytes)
            throw new ArgumentException($"destination holds {destination.Length} bytes, one group needs {(long)blocks * groupBlockBytes}", nameof(destination));
        return (blocks, (int)rowBytes);
    }

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

    /// <summary>The plain twin of an eight-row layout's kernel over whole groups, after <see cref="Check"/>.</summary>
    public delegate void ScalarGroups(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride, int blocks, int tokens);

    /// <summary>
    /// The entry point of an eight-row layout's kernel (no activation offsets): the shapes checked, then the AVX2
    /// tiles through <see cref="Run8"/>, or <paramref name="scalar"/> where AVX2 and FMA are off.
    /// </summary>
    public static void Dot8(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride,
        int groupBlockBytes, int activationBlockBytes, ScalarGroups scalar,
        delegate*<byte*, int, byte*, nint, ref Accumulators4, void> tile4, delegate*<byte*, nint, int, byte*, ref Accumulators4, void> tile2x1)
    {
        if (!DotBlocks.Avx2Fma)
        {
            Scalar8(groups, rows, activations, output, stride, groupBlockBytes, activationBlockBytes, scalar);
            return;
        }

        var (blocks, tokens) = Check(groups, rows, 8, groupBlockBytes, activations, activationBlockBytes, default, false, output, stride);

        fixed (byte* w = groups)
        fixed (byte* a = activations)
        fixed (float* y = output)
        {
            Run8(w, rows, blocks, groupBlockBytes, a, activationBlockBytes, tokens, y, stride, tile4, tile2x1);
        }
    }

    /// <summary>The entry point of an eight-row layout's plain twin: the shapes checked, then <paramref name="scalar"/>.</summary>
    public static void Scalar8(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride,
        int groupBlockBytes, int activationBlockBytes, ScalarGroups scalar)
    {
        var (blocks, tokens) = Check(groups, rows, 8, groupBlockBytes, activations, activationBlockBytes, default, false, output, stride);
        scalar(groups, rows, activations, output, stride, blocks, tokens);
    }

    /// <summary>
    /// The tiling of the eight-row layouts (<see cref="InterleavedQ4_K"/>, <see cref="InterleavedQ8_0"/>,
    /// <see cref="InterleavedIQ4_XS"/>): per group, four tokens at a time through <paramref name="tile4"/>
    /// (x, blocks, y, activation row bytes, results); the last few tokens (all of them when decoding) one at a time,
    /// two groups per call of <paramref name="tile2x1"/> (x, bytes to the second group or 0, blocks, y, results), so
    /// the groups share the token's activation loads.
    /// </summary>
    private static void Run8(byte* w, int rows, int blocks, nint groupBlockBytes, byte* a, nint activationBlockBytes, int tokens, float* output, int stride,
        delegate*<byte*, int, byte*, nint, ref Accumulators4, void> tile4, delegate*<byte*, nint, int, byte*, ref Accumulators4, void> tile2x1)
    {
        const int GroupRows = 8, Tokens = 4;
        nint activationRowBytes = blocks * activationBlockBytes;
        nint groupBytes = blocks * groupBlockBytes;
        int groups = (rows + GroupRows - 1) / GroupRows;
        int whole = tokens / Tokens * Tokens;
        Accumulators4 acc = default;
        for (int g = 0; g < groups; g++)
        {
            int valid = Math.Min(GroupRows, rows - g * GroupRows);
            for (int t = 0; t < whole; t += Tokens)
            {
                tile4(w + g * groupBytes, blocks, a + t * activationRowBytes, activationRowBytes, ref acc);
                for (int i = 0; i < Tokens; i++)
                    Store(acc[i], output + (nint)(t + i) * stride + g * GroupRows, valid);
            }
        }

        for (int t = whole; t < tokens; t++)
        {
            byte* y = a + t * activationRowBytes;
            float* o = output + (nint)t * stride;
            int g = 0;
            for (; g + 2 <= groups; g += 2)
            {
                tile2x1(w + g * groupBytes, groupBytes, blocks, y, ref acc);
                Store(acc[0], o + g * GroupRows, GroupRows);
                Store(acc[1], o + (g + 1) * GroupRows, Math.Min(GroupRows, rows - (g + 1) * GroupRows));
            }

            if (g < groups)
            {
                tile2x1(w + g * groupBytes, 0, blocks, y, ref acc);
                Store(acc[0], o + g * GroupRows, rows - g * GroupRows);
            }
        }
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
