using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Gguf;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// Ternary weight rows (TQ2_0, and TQ1_0 decoded into the same codes at load: the ternary values are exact) repacked
/// sixteen at a time, against Q8_K activation rows. One vector lane per weight row, so each 32-byte load feeds eight
/// rows, the activations are broadcast once for sixteen, a decoding step reads one sequential stream and needs no
/// horizontal sums.
/// </summary>
/// <remarks>
/// Layout: groups of 16 rows (the last padded with zero rows), each group the rows' 256-weight blocks in order; one
/// group-block is 1056 bytes, as many as the 16 TQ2_0 blocks it holds: the 16 scales d (f16), then 16 chunks of 64
/// bytes, chunk c holding row r's bytes at 4r..4r+3 (rows 0..7 in its first half, 8..15 in its second); bit pair
/// l (0..3) of that row's byte k is the code (0..2, weight d·(code − 1)) of weight 16c + 4l + k, so each bit pair
/// of a 32-byte half meets one broadcast of four activations. TQ1_0 rows take 22 % more memory repacked (2 bits a
/// weight instead of 1.6) and decode as fast as TQ2_0: base-3 digits cost several multiplies a byte, 2-bit codes a
/// shift and a mask.
/// <para>
/// Arithmetic, the same in every path and for every batch size, so a token's output never depends on the batch:
/// for each block in order, the exact integer s = Σ code·y − Σ y, then acc = fma(dx·dy, (float)s, acc).
/// </para>
/// </remarks>
[SkipLocalsInit]
public static unsafe class InterleavedTQ2_0
{
    public const int GroupRows = 16;
    private const int HalfRows = 8;
    private const int ChunkBytes = 4 * GroupRows;
    private const int HalfBytes = 4 * HalfRows;
    public const int GroupBlockBytes = GroupRows * TQ2_0.BlockBytes;
    private const int BlockSize = 256;
    private const int Chunks = 16;
    private const int ScaleBytes = 2 * GroupRows;
    private const int ActivationBlockBytes = Q8_K.BlockBytes;
    private const int Tokens = DotMultiBlocks.Tokens;

    /// <summary>TQ2_0's repacked layout in the quant table.</summary>
    public static readonly RepackedLayout Layout = new(GroupRows, GroupBlockBytes, Repack, Dot, Scalar, BlockOffsets);

    /// <summary>TQ1_0's repacked layout in the quant table: the same groups, its rows decoded to the same codes.</summary>
    public static readonly RepackedLayout LayoutTQ1_0 = new(GroupRows, GroupBlockBytes, RepackTQ1_0, Dot, Scalar, BlockOffsets);

    /// <summary>Groups of 16 rows needed for <paramref name="rows"/> rows.</summary>
    public static int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;

    /// <summary>Bytes of a repacked [rows, cols] matrix.</summary>
    public static long Bytes(int rows, int cols) => (long)Groups(rows) * (cols / BlockSize) * GroupBlockBytes;

    /// <summary>Repacks group <paramref name="group"/> of a TQ2_0 matrix [rows, cols] (rows stored one after another).</summary>
    public static void Repack(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination) =>
        Repack(matrix, rows, cols, group, destination, GgmlType.TQ2_0);

    /// <summary>Repacks group <paramref name="group"/> of a TQ1_0 matrix [rows, cols] into the same layout.</summary>
    public static void RepackTQ1_0(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination) =>
        Repack(matrix, rows, cols, group, destination, GgmlType.TQ1_0);

    private static void Repack(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination, GgmlType type)
    {
        int blockBytes = type == GgmlType.TQ2_0 ? TQ2_0.BlockBytes : TQ1_0.BlockBytes;
        var (blocks, rowBytes) = RepackedShape.CheckRepack(matrix, rows, cols, group, destination, type.ToString(), BlockSize, blockBytes, GroupRows, GroupBlockBytes);

        destination.Clear();
        Span<byte> codes = stackalloc byte[BlockSize];
        for (int r = 0; r < GroupRows && group * GroupRows + r < rows; r++)
        {
            var row = matrix.Slice((int)(rowBytes * (group * GroupRows + r)), (int)rowBytes);
            for (int b = 0; b < blocks; b++)
            {
                var block = row.Slice(b * blockBytes, blockBytes);
                var target = destination.Slice(b * GroupBlockBytes, GroupBlockBytes);
                if (type == GgmlType.TQ2_0)
                {
                    CodesTQ2_0(block, codes);
                    block.Slice(TQ2_0.OffsetD, 2).CopyTo(target[(2 * r)..]);
                }
                else
                {
                    CodesTQ1_0(block, codes);
                    block.Slice(TQ1_0.OffsetD, 2).CopyTo(target[(2 * r)..]);
                }

                for (int c = 0; c < Chunks; c++)
                {
                    for (int k = 0; k < 4; k++)
                    {
                        int q = 0;
                        for (int l = 0; l < 4; l++)
                            q |= codes[16 * c + 4 * l + k] << (2 * l);
                        target[ScaleBytes + ChunkBytes * c + 4 * r + k] = (byte)q;
                    }
                }
            }
        }
    }

    /// <summary>The 256 two-bit codes of a TQ2_0 block (weight 128h + 32l + k is bit pair l of qs[32h + k]).</summary>
    private static void CodesTQ2_0(ReadOnlySpan<byte> block, Span<byte> codes)
    {
        for (int h = 0; h < 2; h++)
        {
            for (int l = 0; l < 4; l++)
            {
                for (int k = 0; k < 32; k++)
                    codes[128 * h + 32 * l + k] = (byte)((block[TQ2_0.OffsetQs + 32 * h + k] >> (2 * l)) & 3);
            }
        }
    }

    /// <summary>The 256 codes (trit + 1) of a TQ1_0 block, in its weight order (see <see cref="TQ1_0"/>).</summary>
    private static void CodesTQ1_0(ReadOnlySpan<byte> block, Span<byte> codes)
    {
        for (int n = 0; n < 5; n++)
        {
            for (int m = 0; m < 32; m++)
                codes[32 * n + m] = (byte)(TQ1_0.Trit(block[TQ1_0.OffsetQs + m], n) + 1);
            for (int m = 0; m < 16; m++)
                codes[160 + 16 * n + m] = (byte)(TQ1_0.Trit(block[TQ1_0.OffsetQs + 32 + m], n) + 1);
        }

        for (int n = 0; n < 4; n++)
        {
            for (int j = 0; j < 4; j++)
                codes[240 + 4 * n + j] = (byte)(TQ1_0.Trit(block[TQ1_0.OffsetQh + j], n) + 1);
        }
    }

    /// <summary>−Σ y of each Q8_K block of one activation row (from its bsums): the offset term of every weight row's block sum.</summary>
    public static void BlockOffsets(ReadOnlySpan<byte> activations, Span<int> offsets)
    {
        if (activations.Length != offsets.Length * ActivationBlockBytes)
            throw new ArgumentException($"{activations.Length} activation bytes are not {offsets.Length} Q8_K blocks", nameof(activations));
        for (int b = 0; b < offsets.Length; b++)
        {
            int sum = 0;
            for (int g = 0; g < 16; g++)
                sum += BinaryPrimitives.ReadInt16LittleEndian(activations[(b * ActivationBlockBytes + Q8_K.OffsetBsums + 2 * g)..]);
            offsets[b] = -sum;
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
                    for (int c = 0; c < Chunks; c++)
                    {
                        for (int k = 0; k < 4; k++)
                        {
                            int q = x[ScaleBytes + ChunkBytes * c + 4 * r + k];
                            for (int l = 0; l < 4; l++)
                                sum += ((q >> (2 * l)) & 3) * (sbyte)y[Q8_K.OffsetQs + 16 * c + 4 * l + k];
                        }
                    }

                    acc = MathF.FusedMultiplyAdd(DotBlocks.ReadHalf(x, 2 * r) * BinaryPrimitives.ReadSingleLittleEndian(y), sum, acc);
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
        for (int g = 0; g < groups; g++)
        {
            byte* x = w + g * groupBytes;
            float* o = output + g * GroupRows;
            int valid = rows - g * GroupRows;
            for (int t = 0; t < whole; t += Tokens)
            {
                for (int h = 0; h < 2 && h * HalfRows < valid; h++)
                {
                    Tile8x4(x, h, blocks, a + (nint)t * activationRowBytes, activationRowBytes, offsets + t * blocks, ref acc);
                    for (int i = 0; i < Tokens; i++)
                        RepackedShape.Store(acc[i], o + (nint)(t + i) * stride + h * HalfRows, valid - h * HalfRows);
                }
            }

            // The last few tokens (all of them when decoding): all sixteen rows share the activation loads.
            for (int t = whole; t < tokens; t++)
            {
                Tile16x1(x, blocks, a + (nint)t * activationRowBytes, offsets + t * blocks, ref acc);
                RepackedShape.Store(acc[0], o + (nint)t * stride, valid);
                RepackedShape.Store(acc[1], o + (nint)t * stride + HalfRows, valid - HalfRows);
            }
        }
    }

    /// <summary>
    /// One group against one token: the decoding step, into output[0] (rows 0..7) and output[1] (rows 8..15). Per
    /// half an int16 sum of the codes masked by 3 (weights × 1) and one of those masked by 12 (× 4), folded into
    /// int32 every four chunks: one shift and four masks per chunk (measured ~20 % faster on [8192, 2048] than three
    /// shifts and no folds).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static void Tile16x1(byte* x, int blocks, byte* y, int* offsets, ref Accumulators4 output)
    {
        Vector256<float> acc0 = default, acc1 = default;
        for (int b = 0; b < blocks; b++, x += GroupBlockBytes, y += ActivationBlockBytes)
        {
            Vector256<int> wide0 = Vector256.Create(offsets[b]), wide1 = wide0;
            Vector256<short> ones0 = default, ones1 = default;
            for (int c = 0; c < Chunks; c += 4)
            {
                Prefetch(x + ScaleBytes + ChunkBytes * c);
                Vector256<short> fours0 = default, fours1 = default;
                Chunk16(x, y, c, ref ones0, ref fours0, ref ones1, ref fours1);
                Chunk16(x, y, c + 1, ref ones0, ref fours0, ref ones1, ref fours1);
                Chunk16(x, y, c + 2, ref ones0, ref fours0, ref ones1, ref fours1);
                Chunk16(x, y, c + 3, ref ones0, ref fours0, ref ones1, ref fours1);
                wide0 += Quarter(fours0);
                wide1 += Quarter(fours1);
            }

            var dy = Vector256.Create(*(float*)y);
            acc0 = Fma.MultiplyAdd(HalfConversion.ToSingle(Vector128.Load((short*)x)) * dy, Avx.ConvertToVector256Single(wide0 + Widen(ones0)), acc0);
            acc1 = Fma.MultiplyAdd(HalfConversion.ToSingle(Vector128.Load((short*)(x + 2 * HalfRows))) * dy, Avx.ConvertToVector256Single(wide1 + Widen(ones1)), acc1);
        }

        output[0] = acc0;
        output[1] = acc1;
    }

    /// <summary>Chunk <paramref name="c"/> of a group (both halves) against the token's activations 16c..16c+15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk16(byte* x, byte* y, int c,
        ref Vector256<short> ones0, ref Vector256<short> fours0, ref Vector256<short> ones1, ref Vector256<short> fours1)
    {
        byte* yc = y + Q8_K.OffsetQs + 16 * c;
        var y0 = RepackedShape.Broadcast(yc);
        var y1 = RepackedShape.Broadcast(yc + 4);
        var y2 = RepackedShape.Broadcast(yc + 8);
        var y3 = RepackedShape.Broadcast(yc + 12);
        var low = Vector256.Create((byte)3);
        var high = Vector256.Create((byte)12);
        var q = Vector256.Load(x + ScaleBytes + ChunkBytes * c);
        var h = Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte();
        ones0 += Avx2.MultiplyAddAdjacent(q & low, y0) + Avx2.MultiplyAddAdjacent(h & low, y2);
        fours0 += Avx2.MultiplyAddAdjacent(q & high, y1) + Avx2.MultiplyAddAdjacent(h & high, y3);
        q = Vector256.Load(x + ScaleBytes + ChunkBytes * c + HalfBytes);
        h = Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte();
        ones1 += Avx2.MultiplyAddAdjacent(q & low, y0) + Avx2.MultiplyAddAdjacent(h & low, y2);
        fours1 += Avx2.MultiplyAddAdjacent(q & high, y1) + Avx2.MultiplyAddAdjacent(h & high, y3);
    }

    /// <summary>
    /// Half <paramref name="half"/> (rows 8·half..8·half+7) of a group against four tokens (<paramref name="stride"/>
    /// bytes apart): each chunk unpacked once (three shifts, four masks) for all four. Per token one int16 sum for
    /// bit pairs 0 and 2, one for 1 and 3, so nothing needs folding within a block.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Tile8x4(byte* x, int half, int blocks, byte* y, nint stride, int* offsets, ref Accumulators4 output)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* scales = x + 2 * HalfRows * half;
        x += HalfBytes * half;
        for (int b = 0; b < blocks; b++, x += GroupBlockBytes, scales += GroupBlockBytes, y += ActivationBlockBytes)
        {
            Vector256<short> even0 = default, odd0 = default, even1 = default, odd1 = default;
            Vector256<short> even2 = default, odd2 = default, even3 = default, odd3 = default;
            for (int c = 0; c < Chunks; c++)
            {
                var q = Vector256.Load(x + ScaleBytes + ChunkBytes * c).AsUInt16();
                var mask = Vector256.Create((byte)3);
                var c0 = q.AsByte() & mask;
                var c1 = Avx2.ShiftRightLogical(q, 2).AsByte() & mask;
                var c2 = Avx2.ShiftRightLogical(q, 4).AsByte() & mask;
                var c3 = Avx2.ShiftRightLogical(q, 6).AsByte() & mask;
                byte* yc = y + Q8_K.OffsetQs + 16 * c;
                Token(c0, c1, c2, c3, yc, ref even0, ref odd0);
                Token(c0, c1, c2, c3, yc + stride, ref even1, ref odd1);
                Token(c0, c1, c2, c3, yc + 2 * stride, ref even2, ref odd2);
                Token(c0, c1, c2, c3, yc + 3 * stride, ref even3, ref odd3);
            }

            var dx = HalfConversion.ToSingle(Vector128.Load((short*)scales));
            acc0 = Finish(dx, y, offsets[b], even0, odd0, acc0);
            acc1 = Finish(dx, y + stride, offsets[blocks + b], even1, odd1, acc1);
            acc2 = Finish(dx, y + 2 * stride, offsets[2 * blocks + b], even2, odd2, acc2);
            acc3 = Finish(dx, y + 3 * stride, offsets[3 * blocks + b], even3, odd3, acc3);
        }

        output[0] = acc0;
        output[1] = acc1;
        output[2] = acc2;
        output[3] = acc3;
    }

    /// <summary>One chunk's codes (bit pairs 0..3) against one token's activations at <paramref name="y"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Token(Vector256<byte> c0, Vector256<byte> c1, Vector256<byte> c2, Vector256<byte> c3, byte* y,
        ref Vector256<short> even, ref Vector256<short> odd)
    {
        even += Avx2.MultiplyAddAdjacent(c0, RepackedShape.Broadcast(y)) + Avx2.MultiplyAddAdjacent(c2, RepackedShape.Broadcast(y + 8));
        odd += Avx2.MultiplyAddAdjacent(c1, RepackedShape.Broadcast(y + 4)) + Avx2.MultiplyAddAdjacent(c3, RepackedShape.Broadcast(y + 12));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish(Vector256<float> dx, byte* y, int offset, Vector256<short> even, Vector256<short> odd, Vector256<float> acc) =>
        Fma.MultiplyAdd(dx * Vector256.Create(*(float*)y), Avx.ConvertToVector256Single(Vector256.Create(offset) + Widen(even) + Widen(odd)), acc);

    /// <summary>
    /// The four cache lines <see cref="DotBlocks.PrefetchDistance"/> bytes after <paramref name="x"/>: four chunks'
    /// worth. Without it the hardware prefetcher alone fed the decoding step at ~10 GB/s of ~17 (one thread).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(byte* x)
    {
        Sse.Prefetch0(x + DotBlocks.PrefetchDistance);
        Sse.Prefetch0(x + DotBlocks.PrefetchDistance + 64);
        Sse.Prefetch0(x + DotBlocks.PrefetchDistance + 128);
        Sse.Prefetch0(x + DotBlocks.PrefetchDistance + 192);
    }


    /// <summary>
    /// The int32 lane sums of int16 pair sums at unit scale. Codes ≤ 3 against |y| ≤ 127: 32 steps of pairs ≤ 762
    /// stay within int16 (24,384), so the sums are exact even for a code 3 a file should not hold.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Widen(Vector256<short> sums) => Avx2.MultiplyAddAdjacent(sums, Vector256.Create((short)1));

    /// <summary>
    /// The int32 lane sums of four chunks' × 4 pair sums, divided by 4 (exact: every product is a multiple of 4).
    /// 8 steps of pairs ≤ 3048 stay within int16 (24,384).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Quarter(Vector256<short> fours) =>
        Avx2.ShiftRightArithmetic(Avx2.MultiplyAddAdjacent(fours, Vector256.Create((short)1)), 2);
}
