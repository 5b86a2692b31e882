using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// Q4_K weight rows repacked eight at a time (as llama.cpp's block_q4_Kx8 for AVX2: the same 1,152 bytes per eight
/// blocks, in a layout of our own), against Q8_K activation rows. One vector lane per weight row, so a decoding
/// step needs no horizontal sums: each lane gathers its row's sub-block sums, scales and mins by itself.
/// </summary>
/// <remarks>
/// Layout: groups of 8 rows (the last padded with zero rows), each group the rows' blocks in order; one group-block
/// is 1,152 bytes, as many as the 8 Q4_K blocks it holds:
/// d of rows 0..7 (f16, bytes 0..15), dmin of rows 0..7 (bytes 16..31), then the 12 packed scale bytes of each row
/// as three 32-byte vectors (bytes 32..127: vector v holds row r's scales[4v..4v+3] at 4r..4r+3, so the kmask
/// unpacking of <see cref="DotQ4_K"/> runs on all eight rows at once), then 32 chunks of 32 bytes (bytes 128..1151):
/// chunk k holds row r's qs[4k..4k+3] at 4r..4r+3, so for k = 8j + c its low nibbles are weights 4c..4c+3 of
/// sub-block 2j and its high nibbles the same weights of sub-block 2j + 1.
/// <para>
/// Arithmetic, the same in every path and for every batch size, so a token's output never depends on the batch:
/// per block in order, the exact integers q = Σ_s scale[s]·Σ nibble·y and m = Σ_s min[s]·(bsums[2s] + bsums[2s+1]),
/// then acc = fma(d·dy, (float)q, acc) and acc = fma(−(dmin·dy), (float)m, acc).
/// </para>
/// </remarks>
[SkipLocalsInit]
public static unsafe class InterleavedQ4_K
{
    public const int GroupRows = 8;
    public const int GroupBlockBytes = GroupRows * Q4_K.BlockBytes;
    private const int OffsetDmin = 16;
    private const int OffsetScales = 32;
    private const int OffsetQs = 128;

    /// <summary>Q4_K's repacked layout in the quant table (no activation offsets: the mins use the Q8_K bsums).</summary>
    public static readonly RepackedLayout Layout = new(GroupRows, GroupBlockBytes, Repack,
        (groups, rows, activations, _, output, stride) => Dot(groups, rows, activations, output, stride),
        (groups, rows, activations, _, output, stride) => Scalar(groups, rows, activations, output, stride));

    /// <summary>Groups of 8 rows needed for <paramref name="rows"/> rows.</summary>
    public static int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;

    /// <summary>Bytes of a repacked [rows, cols] matrix.</summary>
    public static long Bytes(int rows, int cols) => (long)Groups(rows) * (cols / Q4_K.BlockSize) * GroupBlockBytes;

    /// <summary>Repacks group <paramref name="group"/> of a Q4_K matrix [rows, cols] (rows stored one after another).</summary>
    public static void Repack(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination)
    {
        var (blocks, rowBytes) = RepackedShape.CheckRepack(matrix, rows, cols, group, destination, "Q4_K", Q4_K.BlockSize, Q4_K.BlockBytes, GroupRows, GroupBlockBytes);

        destination.Clear();
        for (int r = 0; r < GroupRows && group * GroupRows + r < rows; r++)
        {
            var row = matrix.Slice((int)(rowBytes * (group * GroupRows + r)), (int)rowBytes);
            for (int b = 0; b < blocks; b++)
            {
                var block = row.Slice(b * Q4_K.BlockBytes, Q4_K.BlockBytes);
                var target = destination.Slice(b * GroupBlockBytes, GroupBlockBytes);
                block.Slice(Q4_K.OffsetD, 2).CopyTo(target[(2 * r)..]);
                block.Slice(Q4_K.OffsetDmin, 2).CopyTo(target[(OffsetDmin + 2 * r)..]);
                for (int v = 0; v < 3; v++)
                    block.Slice(Q4_K.OffsetScales + 4 * v, 4).CopyTo(target[(OffsetScales + 32 * v + 4 * r)..]);
                for (int k = 0; k < 32; k++)
                    block.Slice(Q4_K.OffsetQs + 4 * k, 4).CopyTo(target[(OffsetQs + 32 * k + 4 * r)..]);
            }
        }
    }

    /// <summary>
    /// output[t·stride + r] = row r · activation row t (Q8_K), for the first <paramref name="rows"/> rows of the
    /// <paramref name="groups"/> repacked groups and every token.
    /// </summary>
    public static void Dot(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride) =>
        RepackedShape.Dot8(groups, rows, activations, output, stride, GroupBlockBytes, Q8_K.BlockBytes, ScalarGroups, &Tile4, &Tile2x1);

    /// <summary>Plain twin of <see cref="Dot"/>: the same integers and float operations, one row and token at a time.</summary>
    public static void Scalar(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride) =>
        RepackedShape.Scalar8(groups, rows, activations, output, stride, GroupBlockBytes, Q8_K.BlockBytes, ScalarGroups);

    private static void ScalarGroups(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride,
        int blocks, int tokens)
    {
        int groupBytes = blocks * GroupBlockBytes;
        int activationRowBytes = blocks * Q8_K.BlockBytes;
        Span<byte> packed = stackalloc byte[12];
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
                    var y = activations.Slice(t * activationRowBytes + b * Q8_K.BlockBytes, Q8_K.BlockBytes);
                    var q8 = MemoryMarshal.Cast<byte, sbyte>(y.Slice(Q8_K.OffsetQs, Q8_K.BlockSize));
                    var bsums = MemoryMarshal.Cast<byte, short>(y.Slice(Q8_K.OffsetBsums, 32));
                    for (int i = 0; i < 12; i++)
                        packed[i] = x[OffsetScales + 32 * (i / 4) + 4 * r + i % 4];

                    int sumQ = 0; // Σ scale·Σ q·q8
                    int sumM = 0; // Σ min·Σ q8
                    for (int s = 0; s < 8; s++)
                    {
                        var (scale, min) = DotQ4_K.ScaleMin(packed, s);
                        int dot = 0;
                        for (int l = 0; l < 32; l++)
                        {
                            // Byte 32·(s/2) + l of the row's qs: chunk 8·(s/2) + l/4, byte l%4 of the row's four.
                            int q = x[OffsetQs + 32 * (8 * (s >> 1) + l / 4) + 4 * r + l % 4];
                            dot += ((q >> (4 * (s & 1))) & 0x0F) * q8[32 * s + l];
                        }

                        sumQ += scale * dot;
                        sumM += min * (bsums[2 * s] + bsums[2 * s + 1]);
                    }

                    float dy = BitConverter.ToSingle(y);
                    acc = MathF.FusedMultiplyAdd(DotBlocks.ReadHalf(x, 2 * r) * dy, sumQ, acc);
                    acc = MathF.FusedMultiplyAdd(-(DotBlocks.ReadHalf(x, OffsetDmin + 2 * r) * dy), sumM, acc);
                }

                output[t * stride + row] = acc;
            }
        }
    }

    /// <summary>
    /// Two groups (<paramref name="second"/> bytes apart; 0 computes the first twice) against one token: the decoding
    /// step. The token's activations are broadcast once for both.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Tile2x1(byte* x, nint second, int blocks, byte* y, ref Accumulators4 output)
    {
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default;
        for (int b = 0; b < blocks; b++, x += GroupBlockBytes, y += Q8_K.BlockBytes)
        {
            // Both groups' next weights, 2 KiB ahead as in the single-row dots: the block's last two lines here,
            // four more with each sub-block pair.
            DotBlocks.Prefetch(ref x[1024], 2);
            DotBlocks.Prefetch(ref x[second + 1024], 2);
            Vector256<int> sumQ0 = default, sumQ1 = default;
            Pair2x1(x, second, y, 0, mask, ref sumQ0, ref sumQ1);
            Pair2x1(x, second, y, 1, mask, ref sumQ0, ref sumQ1);
            Pair2x1(x, second, y, 2, mask, ref sumQ0, ref sumQ1);
            Pair2x1(x, second, y, 3, mask, ref sumQ0, ref sumQ1);

            var pairs = BsumPairs(y);
            var dy = Vector256.Create(Unsafe.ReadUnaligned<float>(y));
            acc0 = Accumulate(x, dy, sumQ0, Mins(x, pairs), acc0);
            acc1 = Accumulate(x + second, dy, sumQ1, Mins(x + second, pairs), acc1);
        }

        output[0] = acc0;
        output[1] = acc1;
    }

    /// <summary>
    /// Sub-blocks 2j and 2j + 1 (the low and high nibbles of chunks 8j .. 8j + 7) of two groups against one token:
    /// sum += scale[2j]·Σ low·y + scale[2j + 1]·Σ high·y per row. <paramref name="j"/> is a constant after inlining.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair2x1(byte* x, nint second, byte* y, int j, Vector256<byte> mask, ref Vector256<int> sum0, ref Vector256<int> sum1)
    {
        Vector256<short> low0 = default, high0 = default, low1 = default, high1 = default;
        byte* q = x + OffsetQs + 256 * j;
        byte* yq = y + Q8_K.OffsetQs + 64 * j;
        DotBlocks.Prefetch(ref x[256 * j], 4);
        DotBlocks.Prefetch(ref x[second + 256 * j], 4);
        Chunk(q, second, yq, mask, ref low0, ref high0, ref low1, ref high1);
        Chunk(q + 32, second, yq + 4, mask, ref low0, ref high0, ref low1, ref high1);
        Chunk(q + 64, second, yq + 8, mask, ref low0, ref high0, ref low1, ref high1);
        Chunk(q + 96, second, yq + 12, mask, ref low0, ref high0, ref low1, ref high1);
        Chunk(q + 128, second, yq + 16, mask, ref low0, ref high0, ref low1, ref high1);
        Chunk(q + 160, second, yq + 20, mask, ref low0, ref high0, ref low1, ref high1);
        Chunk(q + 192, second, yq + 24, mask, ref low0, ref high0, ref low1, ref high1);
        Chunk(q + 224, second, yq + 28, mask, ref low0, ref high0, ref low1, ref high1);
        var scales0 = Scales(x, j);
        var scales1 = Scales(x + second, j);
        sum0 = DotBlocks.MulAddPairs(sum0, low0, Avx2.Shuffle(scales0, RepackedShape.ScalePick(2 * j)).AsInt16());
        sum0 = DotBlocks.MulAddPairs(sum0, high0, Avx2.Shuffle(scales0, RepackedShape.ScalePick(2 * j + 1)).AsInt16());
        sum1 = DotBlocks.MulAddPairs(sum1, low1, Avx2.Shuffle(scales1, RepackedShape.ScalePick(2 * j)).AsInt16());
        sum1 = DotBlocks.MulAddPairs(sum1, high1, Avx2.Shuffle(scales1, RepackedShape.ScalePick(2 * j + 1)).AsInt16());
    }

    /// <summary>One chunk of each of two groups: low nibbles × the 4 activations at y, high nibbles × those 32 further on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk(byte* q, nint second, byte* y, Vector256<byte> mask,
        ref Vector256<short> low0, ref Vector256<short> high0, ref Vector256<short> low1, ref Vector256<short> high1)
    {
        var yl = RepackedShape.Broadcast(y);
        var yh = RepackedShape.Broadcast(y + 32);
        var q0 = Vector256.Load(q);
        var q1 = Vector256.Load(q + second);
        low0 += Avx2.MultiplyAddAdjacent(q0 & mask, yl);
        high0 += Avx2.MultiplyAddAdjacent(HighNibbles(q0, mask), yh);
        low1 += Avx2.MultiplyAddAdjacent(q1 & mask, yl);
        high1 += Avx2.MultiplyAddAdjacent(HighNibbles(q1, mask), yh);
    }

    /// <summary>One group against four tokens: each sub-block's nibbles unpacked once for all four.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Tile4(byte* x, int blocks, byte* y, nint stride, ref Accumulators4 output)
    {
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int b = 0; b < blocks; b++, x += GroupBlockBytes, y += Q8_K.BlockBytes)
        {
            var sums = new Sums4();
            Pair4(x, y, stride, 0, mask, ref sums);
            Pair4(x, y, stride, 1, mask, ref sums);
            Pair4(x, y, stride, 2, mask, ref sums);
            Pair4(x, y, stride, 3, mask, ref sums);

            var (minsLow, minsHigh) = (MinsLow(x), MinsHigh(x));
            acc0 = Accumulate(x, Vector256.Create(Unsafe.ReadUnaligned<float>(y)), sums.Q0, Mins(minsLow, minsHigh, BsumPairs(y)), acc0);
            acc1 = Accumulate(x, Vector256.Create(Unsafe.ReadUnaligned<float>(y + stride)), sums.Q1, Mins(minsLow, minsHigh, BsumPairs(y + stride)), acc1);
            acc2 = Accumulate(x, Vector256.Create(Unsafe.ReadUnaligned<float>(y + 2 * stride)), sums.Q2, Mins(minsLow, minsHigh, BsumPairs(y + 2 * stride)), acc2);
            acc3 = Accumulate(x, Vector256.Create(Unsafe.ReadUnaligned<float>(y + 3 * stride)), sums.Q3, Mins(minsLow, minsHigh, BsumPairs(y + 3 * stride)), acc3);
        }

        output[0] = acc0;
        output[1] = acc1;
        output[2] = acc2;
        output[3] = acc3;
    }

    /// <summary>acc + d·dy·sumQ − dmin·dy·sumM, two fmas, for the eight rows of the group-block at <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate(byte* x, Vector256<float> dy, Vector256<int> sumQ, Vector256<int> sumM, Vector256<float> acc)
    {
        var d = HalfConversion.ToSingle(Vector128.Load((short*)x));
        var dmin = HalfConversion.ToSingle(Vector128.Load((short*)(x + OffsetDmin)));
        acc = Fma.MultiplyAdd(d * dy, Avx.ConvertToVector256Single(sumQ), acc);
        return Fma.MultiplyAddNegated(dmin * dy, Avx.ConvertToVector256Single(sumM), acc);
    }

    private struct Sums4
    {
        public Vector256<int> Q0, Q1, Q2, Q3;
    }

    /// <summary>Sub-blocks 2j and 2j + 1 of one group against four tokens. <paramref name="j"/> is a constant after inlining.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair4(byte* x, byte* y, nint stride, int j, Vector256<byte> mask, ref Sums4 sums)
    {
        var scales = Scales(x, j);
        byte* q = x + OffsetQs + 256 * j;
        byte* yq = y + Q8_K.OffsetQs + 64 * j;
        SubBlock4(q, high: false, Avx2.Shuffle(scales, RepackedShape.ScalePick(2 * j)).AsInt16(), yq, stride, mask, ref sums);
        SubBlock4(q, high: true, Avx2.Shuffle(scales, RepackedShape.ScalePick(2 * j + 1)).AsInt16(), yq + 32, stride, mask, ref sums);
    }

    /// <summary>
    /// One sub-block of 32 weights per row (the low or high nibbles of 8 chunks from <paramref name="q"/>) against
    /// the 32 activations at <paramref name="y"/> of each of four tokens: sums.Qt += scale·Σ nibble·y. Not inlined:
    /// inside the whole block loop the JIT ran out of inlining budget and left its helpers as calls (a quarter of
    /// the prompt time), while one call per sub-block costs little.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SubBlock4(byte* q, bool high, Vector256<short> scale, byte* y, nint stride, Vector256<byte> mask, ref Sums4 sums)
    {
        var n0 = Nibbles(q, high, mask);
        var n1 = Nibbles(q + 32, high, mask);
        var n2 = Nibbles(q + 64, high, mask);
        var n3 = Nibbles(q + 96, high, mask);
        var n4 = Nibbles(q + 128, high, mask);
        var n5 = Nibbles(q + 160, high, mask);
        var n6 = Nibbles(q + 192, high, mask);
        var n7 = Nibbles(q + 224, high, mask);
        sums.Q0 = DotBlocks.MulAddPairs(sums.Q0, SubBlockSums(n0, n1, n2, n3, n4, n5, n6, n7, y), scale);
        sums.Q1 = DotBlocks.MulAddPairs(sums.Q1, SubBlockSums(n0, n1, n2, n3, n4, n5, n6, n7, y + stride), scale);
        sums.Q2 = DotBlocks.MulAddPairs(sums.Q2, SubBlockSums(n0, n1, n2, n3, n4, n5, n6, n7, y + 2 * stride), scale);
        sums.Q3 = DotBlocks.MulAddPairs(sums.Q3, SubBlockSums(n0, n1, n2, n3, n4, n5, n6, n7, y + 3 * stride), scale);
    }

    /// <summary>
    /// Σ nibble·y per row as two int16 halves: 16 products of a nibble (≤ 15) and an activation (|y| ≤ 128) stay
    /// within ±30,720, so vpmaddubsw and the int16 adds are exact.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> SubBlockSums(Vector256<byte> n0, Vector256<byte> n1, Vector256<byte> n2, Vector256<byte> n3,
        Vector256<byte> n4, Vector256<byte> n5, Vector256<byte> n6, Vector256<byte> n7, byte* y)
    {
        var narrow = Avx2.MultiplyAddAdjacent(n0, RepackedShape.Broadcast(y));
        narrow += Avx2.MultiplyAddAdjacent(n1, RepackedShape.Broadcast(y + 4));
        narrow += Avx2.MultiplyAddAdjacent(n2, RepackedShape.Broadcast(y + 8));
        narrow += Avx2.MultiplyAddAdjacent(n3, RepackedShape.Broadcast(y + 12));
        narrow += Avx2.MultiplyAddAdjacent(n4, RepackedShape.Broadcast(y + 16));
        narrow += Avx2.MultiplyAddAdjacent(n5, RepackedShape.Broadcast(y + 20));
        narrow += Avx2.MultiplyAddAdjacent(n6, RepackedShape.Broadcast(y + 24));
        return narrow + Avx2.MultiplyAddAdjacent(n7, RepackedShape.Broadcast(y + 28));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* chunk, bool high, Vector256<byte> mask)
    {
        var bits = Vector256.Load(chunk);
        return high ? HighNibbles(bits, mask) : bits & mask;
    }

    /// <summary>
    /// The eight rows' scales of sub-blocks 2j and 2j + 1, one row per 32-bit lane, by DotQ4_K's kmask unpacking of
    /// the three scale vectors: bytes 0..3 of a lane are sub-blocks 0..3 (for j &lt; 2) or 4..7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Scales(byte* x, int j)
    {
        var u0 = Vector256.Load((uint*)(x + OffsetScales));
        if (j < 2)
            return (u0 & Vector256.Create(0x3F3F3F3Fu)).AsByte();
        var u2 = Vector256.Load((uint*)(x + OffsetScales + 64));
        return ((u2 & Vector256.Create(0x0F0F0F0Fu)) | Avx2.ShiftLeftLogical(Avx2.ShiftRightLogical(u0, 6) & Vector256.Create(0x03030303u), 4)).AsByte();
    }

    /// <summary>The eight rows' mins of sub-blocks 0..3, one row per 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> MinsLow(byte* x) => (Vector256.Load((uint*)(x + OffsetScales + 32)) & Vector256.Create(0x3F3F3F3Fu)).AsByte();

    /// <summary>The eight rows' mins of sub-blocks 4..7, one row per 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> MinsHigh(byte* x)
    {
        var u1 = Vector256.Load((uint*)(x + OffsetScales + 32));
        var u2 = Vector256.Load((uint*)(x + OffsetScales + 64));
        return ((Avx2.ShiftRightLogical(u2, 4) & Vector256.Create(0x0F0F0F0Fu)) | Avx2.ShiftLeftLogical(Avx2.ShiftRightLogical(u1, 6) & Vector256.Create(0x03030303u), 4)).AsByte();
    }

    /// <summary>Σ_s min[s]·(bsums[2s] + bsums[2s + 1]) for the eight rows of the group-block at <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Mins(byte* x, Vector256<int> pairs) => Mins(MinsLow(x), MinsHigh(x), pairs);

    /// <summary>The token's eight sub-block sums bsums[2s] + bsums[2s + 1] (int16), in both 128-bit halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BsumPairs(byte* y)
    {
        var bsums = Vector256.Load((short*)(y + Q8_K.OffsetBsums));
        var pairs = Ssse3.HorizontalAdd(bsums.GetLower(), bsums.GetUpper());
        return Vector256.Create(pairs, pairs).AsInt32();
    }

    /// <summary>Σ_s min[s]·(bsums[2s] + bsums[2s + 1]) per row lane: |min| ≤ 63 and |pair| ≤ 32·128, so exact in int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Mins(Vector256<byte> minsLow, Vector256<byte> minsHigh, Vector256<int> pairs)
    {
        var first = Vector256.Create((byte)0, 0x80, 1, 0x80, 4, 0x80, 5, 0x80, 8, 0x80, 9, 0x80, 12, 0x80, 13, 0x80,
            0, 0x80, 1, 0x80, 4, 0x80, 5, 0x80, 8, 0x80, 9, 0x80, 12, 0x80, 13, 0x80);
        var second = Vector256.Create((byte)2, 0x80, 3, 0x80, 6, 0x80, 7, 0x80, 10, 0x80, 11, 0x80, 14, 0x80, 15, 0x80,
            2, 0x80, 3, 0x80, 6, 0x80, 7, 0x80, 10, 0x80, 11, 0x80, 14, 0x80, 15, 0x80);
        var sum = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(minsLow, first).AsInt16(), Avx2.Shuffle(pairs, 0x00).AsInt16());
        sum += Avx2.MultiplyAddAdjacent(Avx2.Shuffle(minsLow, second).AsInt16(), Avx2.Shuffle(pairs, 0x55).AsInt16());
        sum += Avx2.MultiplyAddAdjacent(Avx2.Shuffle(minsHigh, first).AsInt16(), Avx2.Shuffle(pairs, 0xAA).AsInt16());
        sum += Avx2.MultiplyAddAdjacent(Avx2.Shuffle(minsHigh, second).AsInt16(), Avx2.Shuffle(pairs, 0xFF).AsInt16());
        return sum;
    }



    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> HighNibbles(Vector256<byte> q, Vector256<byte> mask) => Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & mask;
}
