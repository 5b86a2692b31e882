using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// Q4_0 weight rows repacked eight at a time (as llama.cpp repacks Q4_0 for AVX2, in a layout of our own), against
/// Q8_0 activation rows. One vector lane per weight row, so a decoding step needs no horizontal sums and converts
/// the eight rows' block scales with one vector widening.
/// </summary>
/// <remarks>
/// Layout: groups of 8 rows (the last padded with zero rows), each group the row's blocks in order; one group-block
/// is 144 bytes, as many as the 8 Q4_0 blocks it holds: the 8 scales d (f16), then four 32-byte chunks, chunk c
/// holding row r's qs[4c..4c+3] at bytes 4r..4r+3, so its low nibbles are weights 4c..4c+3 and its high nibbles
/// weights 16+4c..16+4c+3 of every row.
/// <para>
/// Arithmetic, the same in every path and for every batch size, so a token's output never depends on the batch:
/// for each block in order, the exact integer s = Σ q·y − 8·Σ y, then acc = fma(dx·dy, (float)s, acc).
/// </para>
/// </remarks>
[SkipLocalsInit]
public static unsafe class InterleavedQ4_0
{
    public const int GroupRows = 8;
    public const int GroupBlockBytes = GroupRows * Q4_0.BlockBytes;
    private const int ActivationBlockBytes = 34;
    private const int Tokens = DotMultiBlocks.Tokens;

    /// <summary>Q4_0's repacked layout in the quant table.</summary>
    public static readonly RepackedLayout Layout = new(GroupRows, GroupBlockBytes, Repack, Dot, Scalar, BlockOffsets);

    /// <summary>Groups of 8 rows needed for <paramref name="rows"/> rows.</summary>
    public static int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;

    /// <summary>Bytes of a repacked [rows, cols] matrix.</summary>
    public static long Bytes(int rows, int cols) => (long)Groups(rows) * (cols / Q4_0.BlockSize) * GroupBlockBytes;

    /// <summary>Repacks group <paramref name="group"/> of a Q4_0 matrix [rows, cols] (rows stored one after another).</summary>
    public static void Repack(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination)
    {
        var (blocks, rowBytes) = RepackedShape.CheckRepack(matrix, rows, cols, group, destination, "Q4_0", Q4_0.BlockSize, Q4_0.BlockBytes, GroupRows, GroupBlockBytes);

        destination.Clear();
        for (int r = 0; r < GroupRows && group * GroupRows + r < rows; r++)
        {
            var row = matrix.Slice((int)(rowBytes * (group * GroupRows + r)), (int)rowBytes);
            for (int b = 0; b < blocks; b++)
            {
                var block = row.Slice(b * Q4_0.BlockBytes, Q4_0.BlockBytes);
                var target = destination.Slice(b * GroupBlockBytes, GroupBlockBytes);
                block[..2].CopyTo(target[(2 * r)..]);
                for (int c = 0; c < 4; c++)
                    block.Slice(Q4_0.OffsetQs + 4 * c, 4).CopyTo(target[(16 + 32 * c + 4 * r)..]);
            }
        }
    }

    /// <summary>−8·Σ y of each Q8_0 block of one activation row: the offset term of every weight row's block sum.</summary>
    public static void BlockOffsets(ReadOnlySpan<byte> activations, Span<int> offsets)
    {
        if (activations.Length != offsets.Length * ActivationBlockBytes)
            throw new ArgumentException($"{activations.Length} activation bytes are not {offsets.Length} Q8_0 blocks", nameof(activations));
        for (int b = 0; b < offsets.Length; b++)
        {
            int sum = 0;
            foreach (var y in activations.Slice(b * ActivationBlockBytes + 2, 32))
                sum += (sbyte)y;
            offsets[b] = -8 * sum;
        }
    }

    /// <summary>
    /// output[t·stride + r] = row r · activation row t, for the first <paramref name="rows"/> rows of the
    /// <paramref name="groups"/> repacked groups and every token; <paramref name="offsets"/> holds each token's
    /// <see cref="BlockOffsets"/>.
    /// </summary>
    public static void Dot(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, ReadOnlySpan<int> offsets, Span<float> output, int stride)
    {
        var (blocks, tokens) = RepackedShape.Check(groups, rows, GroupRows, GroupBlockBytes, activations, ActivationBlockBytes, offsets, true, output, stride);
        if (!DotBlocks.Avx2Fma)
        {
            ScalarGroups(groups, rows, activations, offsets, output, stride, blocks, tokens);
            return;
        }

        fixed (byte* w = groups)
        fixed (byte* a = activations)
        fixed (int* o = offsets)
        fixed (float* y = output)
        {
            Avx2Groups(w, rows, blocks, a, o, tokens, y, stride);
        }
    }

    /// <summary>Plain twin of <see cref="Dot"/>: the same integers and float operations, one row and token at a time.</summary>
    public static void Scalar(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, ReadOnlySpan<int> offsets, Span<float> output, int stride)
    {
        var (blocks, tokens) = RepackedShape.Check(groups, rows, GroupRows, GroupBlockBytes, activations, ActivationBlockBytes, offsets, true, output, stride);
        ScalarGroups(groups, rows, activations, offsets, output, stride, blocks, tokens);
    }

    private static void ScalarGroups(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, ReadOnlySpan<int> offsets, Span<float> output, int stride,
        int blocks, int tokens)
    {
        int groupBytes = blocks * GroupBlockBytes;
        int activationRowBytes = blocks * ActivationBlockBytes;
        for (int row = 0; row < rows; row++)
        {
            var group = groups.Slice(row / GroupRows * groupBytes, groupBytes);
            int r = row % GroupRows;
            for (int t = 0; t < tokens; t++)
            {
                float acc = 0;
                for (int b = 0; b < blocks; b++)
                {
                    var x = group.Slice(b * GroupBlockBytes, GroupBlockBytes);
                    var y = activations.Slice(t * activationRowBytes + b * ActivationBlockBytes, ActivationBlockBytes);
                    int sum = offsets[t * blocks + b];
                    for (int c = 0; c < 4; c++)
                    {
                        for (int k = 0; k < 4; k++)
                        {
                            int q = x[16 + 32 * c + 4 * r + k];
                            sum += (q & 0x0F) * (sbyte)y[2 + 4 * c + k] + (q >> 4) * (sbyte)y[2 + 16 + 4 * c + k];
                        }
                    }

                    acc = MathF.FusedMultiplyAdd(DotBlocks.ReadHalf(x, 2 * r) * DotBlocks.ReadHalf(y, 0), sum, acc);
                }

                output[t * stride + row] = acc;
            }
        }
    }

    private static void Avx2Groups(byte* w, int rows, int blocks, byte* a, int* offsets, int tokens, float* output, int stride)
    {
        int activationRowBytes = blocks * ActivationBlockBytes;
        nint groupBytes = (nint)blocks * GroupBlockBytes;
        int groups = Groups(rows);
        int whole = tokens / Tokens * Tokens;
        Accumulators4 acc = default;
        // Two or three last tokens (a few sequences decoding together) share each group's unpacking too.
        int tiled = tokens - whole >= 2 ? tokens : whole;
        for (int g = 0; g < groups; g++)
        {
            int valid = Math.Min(GroupRows, rows - g * GroupRows);
            for (int t = 0; t < tiled; t += Tokens)
            {
                int count = Math.Min(Tokens, tiled - t);
                Tile4(w + g * groupBytes, blocks, a + (nint)t * activationRowBytes, activationRowBytes, offsets + t * blocks, count, ref acc);
                for (int i = 0; i < count; i++)
                    RepackedShape.Store(acc[i], output + (nint)(t + i) * stride + g * GroupRows, valid);
            }
        }

        // The last token (the only one when decoding): two groups at a time share the activation loads.
        for (int t = tiled; t < tokens; t++)
        {
            byte* y = a + (nint)t * activationRowBytes;
            float* o = output + (nint)t * stride;
            int g = 0;
            for (; g + 2 <= groups; g += 2)
            {
                Tile2x1(w + g * groupBytes, groupBytes, blocks, y, offsets + t * blocks, ref acc);
                RepackedShape.Store(acc[0], o + g * GroupRows, GroupRows);
                RepackedShape.Store(acc[1], o + (g + 1) * GroupRows, Math.Min(GroupRows, rows - (g + 1) * GroupRows));
            }

            if (g < groups)
            {
                Tile2x1(w + g * groupBytes, 0, blocks, y, offsets + t * blocks, ref acc);
                RepackedShape.Store(acc[0], o + g * GroupRows, rows - g * GroupRows);
            }
        }
    }

    /// <summary>
    /// Two groups (<paramref name="second"/> bytes apart; 0 computes the first twice) against one token: the decoding
    /// step. Each group's sums run in two chains, low and high nibbles, so consecutive blocks overlap.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static void Tile2x1(byte* x, nint second, int blocks, byte* y, int* offsets, ref Accumulators4 output)
    {
        ref float table = ref HalfConversion.TableStart;
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default;
        for (int b = 0; b < blocks; b++, x += GroupBlockBytes, y += ActivationBlockBytes)
        {
            DotBlocks.Prefetch(ref *x, 3);
            DotBlocks.Prefetch(ref x[second], 3);
            var dy = Vector256.Create(HalfConversion.Lookup(ref table, ref *y));
            var offset = Vector256.Create(offsets[b]);
            Vector256<int> lo0 = offset, hi0 = default, lo1 = offset, hi1 = default;
            Vector256<short> narrow0 = default, narrow1 = default;
            for (int c = 0; c < 4; c++)
            {
                var yl = RepackedShape.Broadcast(y + 2 + 4 * c);
                var yh = RepackedShape.Broadcast(y + 18 + 4 * c);
                var q0 = Vector256.Load(x + 16 + 32 * c);
                var q1 = Vector256.Load(x + second + 16 + 32 * c);
                DotBlocks.Accumulate(ref lo0, ref narrow0, q0 & mask, yl);
                DotBlocks.Accumulate(ref hi0, ref narrow0, HighNibbles(q0, mask), yh);
                DotBlocks.Accumulate(ref lo1, ref narrow1, q1 & mask, yl);
                DotBlocks.Accumulate(ref hi1, ref narrow1, HighNibbles(q1, mask), yh);
            }

            acc0 = Fma.MultiplyAdd(HalfConversion.ToSingle(Vector128.Load((short*)x)) * dy, Avx.ConvertToVector256Single(Sum(lo0 + hi0, narrow0)), acc0);
            acc1 = Fma.MultiplyAdd(HalfConversion.ToSingle(Vector128.Load((short*)(x + second))) * dy, Avx.ConvertToVector256Single(Sum(lo1 + hi1, narrow1)), acc1);
        }

        output[0] = acc0;
        output[1] = acc1;
    }

    /// <summary>One group against <paramref name="count"/> (2 to 4) tokens: each chunk's nibbles unpacked once for all.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Tile4(byte* x, int blocks, byte* y, nint stride, int* offsets, int count, ref Accumulators4 output)
    {
        ref float table = ref HalfConversion.TableStart;
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int b = 0; b < blocks; b++, x += GroupBlockBytes, y += ActivationBlockBytes)
        {
            var dx = HalfConversion.ToSingle(Vector128.Load((short*)x));
            var q0 = Vector256.Load(x + 16);
            var q1 = Vector256.Load(x + 48);
            var q2 = Vector256.Load(x + 80);
            var q3 = Vector256.Load(x + 112);
            var lo0 = q0 & mask; var hi0 = HighNibbles(q0, mask);
            var lo1 = q1 & mask; var hi1 = HighNibbles(q1, mask);
            var lo2 = q2 & mask; var hi2 = HighNibbles(q2, mask);
            var lo3 = q3 & mask; var hi3 = HighNibbles(q3, mask);
            acc0 = Token(ref table, dx, lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, y, offsets[b], acc0);
            acc1 = Token(ref table, dx, lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, y + stride, offsets[blocks + b], acc1);
            if (count > 2)
                acc2 = Token(ref table, dx, lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, y + 2 * stride, offsets[2 * blocks + b], acc2);
            if (count > 3)
                acc3 = Token(ref table, dx, lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, y + 3 * stride, offsets[3 * blocks + b], acc3);
        }

        output[0] = acc0;
        output[1] = acc1;
        output[2] = acc2;
        output[3] = acc3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Token(ref float table, Vector256<float> dx,
        Vector256<byte> lo0, Vector256<byte> hi0, Vector256<byte> lo1, Vector256<byte> hi1,
        Vector256<byte> lo2, Vector256<byte> hi2, Vector256<byte> lo3, Vector256<byte> hi3,
        byte* y, int offset, Vector256<float> acc)
    {
        var wide = Vector256.Create(offset);
        var narrow = Vector256<short>.Zero;
        DotBlocks.Accumulate(ref wide, ref narrow, lo0, RepackedShape.Broadcast(y + 2));
        DotBlocks.Accumulate(ref wide, ref narrow, hi0, RepackedShape.Broadcast(y + 18));
        DotBlocks.Accumulate(ref wide, ref narrow, lo1, RepackedShape.Broadcast(y + 6));
        DotBlocks.Accumulate(ref wide, ref narrow, hi1, RepackedShape.Broadcast(y + 22));
        DotBlocks.Accumulate(ref wide, ref narrow, lo2, RepackedShape.Broadcast(y + 10));
        DotBlocks.Accumulate(ref wide, ref narrow, hi2, RepackedShape.Broadcast(y + 26));
        DotBlocks.Accumulate(ref wide, ref narrow, lo3, RepackedShape.Broadcast(y + 14));
        DotBlocks.Accumulate(ref wide, ref narrow, hi3, RepackedShape.Broadcast(y + 30));
        var d = dx * Vector256.Create(HalfConversion.Lookup(ref table, ref *y));
        return Fma.MultiplyAdd(d, Avx.ConvertToVector256Single(Sum(wide, narrow)), acc);
    }


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> HighNibbles(Vector256<byte> q, Vector256<byte> mask) => Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & mask;

    /// <summary>
    /// The block sums: the offset plus what <see cref="DotBlocks.Accumulate"/> gathered. Eight int16 pair sums of
    /// nibble (≤ 15) times activation (|y| ≤ 127) stay within ±30,480, so the int16 path is exact too.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sum(Vector256<int> wide, Vector256<short> narrow) =>
        AvxVnni.IsSupported ? wide : wide + DotBlocks.Widen(wide, narrow);
}
