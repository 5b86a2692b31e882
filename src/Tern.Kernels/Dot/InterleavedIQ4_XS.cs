using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// IQ4_XS weight rows repacked eight at a time, against Q8_K activation rows. One vector lane per weight row, as
/// <see cref="InterleavedQ4_K"/>: a decoding step needs no horizontal sums, and the block header (d, the eight 6-bit
/// sub-block scales) is unpacked once at load instead of at every dot.
/// </summary>
/// <remarks>
/// Layout: groups of 8 rows (the last padded with zero rows), each group the rows' blocks in order; one group-block
/// is 1,120 bytes (the 8 blocks hold 1,088; 32-byte aligned pieces):
/// d of rows 0..7 as float (bytes 0..31), the sub-block scales ls (0..63, unsigned bytes) as two 32-byte vectors
/// (bytes 32..95: vector v holds row r's ls of sub-blocks 4v..4v+3 at 4r..4r+3), then 32 chunks of 32 bytes
/// (bytes 96..1119): chunk k holds row r's qs[4k..4k+3] at 4r..4r+3, so for k = 4s + c its low nibbles are weights
/// 4c..4c+3 of sub-block s and its high nibbles weights 16 + 4c..16 + 4c+3.
/// <para>
/// Arithmetic, the same in every path and for every batch size, so a token's output never depends on the batch:
/// per block in order, the exact integer q = Σ_s (ls[s] − 32)·Σ Values[nibble]·y, then acc = fma(d·dy, (float)q, acc).
/// The signed table values go through vpmaddubsw as |value| × (y with value's sign): each product pair is at most
/// 2·127·127 = 32,258, so exact in int16, and it is widened (times the scale) before the next is added. Activations
/// are in −127..127, as Q8_K's quantizer makes them: negating −128 would wrap.
/// </para>
/// </remarks>
[SkipLocalsInit]
public static unsafe class InterleavedIQ4_XS
{
    public const int GroupRows = 8;
    public const int GroupBlockBytes = 1120;
    private const int OffsetScales = 32;
    private const int OffsetQs = 96;

    /// <summary>IQ4_XS's repacked layout in the quant table (no activation offsets).</summary>
    public static readonly RepackedLayout Layout = new(GroupRows, GroupBlockBytes, Repack,
        (groups, rows, activations, _, output, stride) => Dot(groups, rows, activations, output, stride),
        (groups, rows, activations, _, output, stride) => Scalar(groups, rows, activations, output, stride));

    /// <summary>Groups of 8 rows needed for <paramref name="rows"/> rows.</summary>
    public static int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;

    /// <summary>Bytes of a repacked [rows, cols] matrix.</summary>
    public static long Bytes(int rows, int cols) => (long)Groups(rows) * (cols / IQ4_XS.BlockSize) * GroupBlockBytes;

    /// <summary>Repacks group <paramref name="group"/> of an IQ4_XS matrix [rows, cols] (rows stored one after another).</summary>
    public static void Repack(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination)
    {
        var (blocks, rowBytes) = RepackedShape.CheckRepack(matrix, rows, cols, group, destination, "IQ4_XS", IQ4_XS.BlockSize, IQ4_XS.BlockBytes, GroupRows, GroupBlockBytes);

        destination.Clear();
        for (int r = 0; r < GroupRows && group * GroupRows + r < rows; r++)
        {
            var row = matrix.Slice((int)(rowBytes * (group * GroupRows + r)), (int)rowBytes);
            for (int b = 0; b < blocks; b++)
            {
                var block = row.Slice(b * IQ4_XS.BlockBytes, IQ4_XS.BlockBytes);
                var target = destination.Slice(b * GroupBlockBytes, GroupBlockBytes);
                MemoryMarshal.Write(target[(4 * r)..], DotBlocks.ReadHalf(block, IQ4_XS.OffsetD));
                for (int s = 0; s < 8; s++)
                    target[OffsetScales + 32 * (s / 4) + 4 * r + s % 4] = (byte)IQ4_XS.Scale(block, s);
                for (int k = 0; k < 32; k++)
                    block.Slice(IQ4_XS.OffsetQs + 4 * k, 4).CopyTo(target[(OffsetQs + 32 * k + 4 * r)..]);
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
        var values = IQ4_NL.Values;
        int groupBytes = blocks * GroupBlockBytes;
        int activationRowBytes = blocks * Q8_K.BlockBytes;
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
                    int sumQ = 0; // Σ (ls − 32)·Σ value·q8
                    for (int s = 0; s < 8; s++)
                    {
                        int dot = 0;
                        for (int l = 0; l < 16; l++)
                        {
                            // Byte l of sub-block s's 16 qs bytes: chunk 4s + l/4, byte l%4 of the row's four.
                            int q = x[OffsetQs + 32 * (4 * s + l / 4) + 4 * r + l % 4];
                            dot += values[q & 0x0F] * q8[32 * s + l] + values[q >> 4] * q8[32 * s + 16 + l];
                        }

                        sumQ += (x[OffsetScales + 32 * (s / 4) + 4 * r + s % 4] - 32) * dot;
                    }

                    float d = MemoryMarshal.Read<float>(x[(4 * r)..]);
                    acc = MathF.FusedMultiplyAdd(d * BitConverter.ToSingle(y), sumQ, acc);
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
        var values = NibbleTable.Lanes(IQ4_NL.Values);
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default;
        for (int b = 0; b < blocks; b++, x += GroupBlockBytes, y += Q8_K.BlockBytes)
        {
            // Both groups' next weights, 2 KiB ahead as in the single-row dots: the block's last lines here, two
            // more with each sub-block.
            DotBlocks.Prefetch(ref x[1024], 2);
            DotBlocks.Prefetch(ref x[second + 1024], 2);
            Vector256<int> sumQ0 = default, sumQ1 = default;
            Half2x1(x, second, y, 0, values, mask, ref sumQ0, ref sumQ1);
            Half2x1(x, second, y, 1, values, mask, ref sumQ0, ref sumQ1);

            var dy = Vector256.Create(Unsafe.ReadUnaligned<float>(y));
            acc0 = Fma.MultiplyAdd(Vector256.Load((float*)x) * dy, Avx.ConvertToVector256Single(sumQ0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Load((float*)(x + second)) * dy, Avx.ConvertToVector256Single(sumQ1), acc1);
        }

        output[0] = acc0;
        output[1] = acc1;
    }

    /// <summary>Sub-blocks 4v .. 4v + 3 of two groups against one token. <paramref name="v"/> is a constant after inlining.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Half2x1(byte* x, nint second, byte* y, int v, Vector256<sbyte> values, Vector256<byte> mask,
        ref Vector256<int> sum0, ref Vector256<int> sum1)
    {
        var scales0 = Vector256.Load(x + OffsetScales + 32 * v);
        var scales1 = Vector256.Load(x + second + OffsetScales + 32 * v);
        SubBlock2x1(x, second, y, 4 * v, Scale(scales0, 0), Scale(scales1, 0), values, mask, ref sum0, ref sum1);
        SubBlock2x1(x, second, y, 4 * v + 1, Scale(scales0, 1), Scale(scales1, 1), values, mask, ref sum0, ref sum1);
        SubBlock2x1(x, second, y, 4 * v + 2, Scale(scales0, 2), Scale(scales1, 2), values, mask, ref sum0, ref sum1);
        SubBlock2x1(x, second, y, 4 * v + 3, Scale(scales0, 3), Scale(scales1, 3), values, mask, ref sum0, ref sum1);
    }

    /// <summary>
    /// Sub-block <paramref name="s"/> (chunks 4s .. 4s + 3) of two groups against one token: sum += scale·Σ value·y
    /// per row. Not inlined: with its four chunks unrolled, the JIT's inlining budget ran out inside the block loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SubBlock2x1(byte* x, nint second, byte* y, int s, Vector256<short> scale0, Vector256<short> scale1,
        Vector256<sbyte> values, Vector256<byte> mask, ref Vector256<int> sum0, ref Vector256<int> sum1)
    {
        byte* q = x + OffsetQs + 128 * s;
        byte* yq = y + Q8_K.OffsetQs + 32 * s;
        DotBlocks.Prefetch(ref x[128 * s], 2);
        DotBlocks.Prefetch(ref x[second + 128 * s], 2);
        Vector256<int> s0 = sum0, s1 = sum1;
        Chunk2x1(q, second, yq, scale0, scale1, values, mask, ref s0, ref s1);
        Chunk2x1(q + 32, second, yq + 4, scale0, scale1, values, mask, ref s0, ref s1);
        Chunk2x1(q + 64, second, yq + 8, scale0, scale1, values, mask, ref s0, ref s1);
        Chunk2x1(q + 96, second, yq + 12, scale0, scale1, values, mask, ref s0, ref s1);
        sum0 = s0;
        sum1 = s1;
    }

    /// <summary>One chunk of each of two groups: low nibbles × the 4 activations at y, high nibbles × those 16 further on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk2x1(byte* q, nint second, byte* y, Vector256<short> scale0, Vector256<short> scale1,
        Vector256<sbyte> values, Vector256<byte> mask, ref Vector256<int> sum0, ref Vector256<int> sum1)
    {
        var yl = RepackedShape.Broadcast(y);
        var yh = RepackedShape.Broadcast(y + 16);
        var (low0, high0) = Lookup(Vector256.Load(q), values, mask);
        var (low1, high1) = Lookup(Vector256.Load(q + second), values, mask);
        sum0 = DotBlocks.MulAddPairs(sum0, Products(low0, yl), scale0);
        sum0 = DotBlocks.MulAddPairs(sum0, Products(high0, yh), scale0);
        sum1 = DotBlocks.MulAddPairs(sum1, Products(low1, yl), scale1);
        sum1 = DotBlocks.MulAddPairs(sum1, Products(high1, yh), scale1);
    }

    /// <summary>One group against four tokens: each chunk looked up once for all four.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Tile4(byte* x, int blocks, byte* y, nint stride, ref Accumulators4 output)
    {
        var values = NibbleTable.Lanes(IQ4_NL.Values);
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int b = 0; b < blocks; b++, x += GroupBlockBytes, y += Q8_K.BlockBytes)
        {
            var sums = new Sums4();
            for (int v = 0; v < 2; v++)
            {
                var scales = Vector256.Load(x + OffsetScales + 32 * v);
                SubBlock4(x + OffsetQs + 512 * v, Scale(scales, 0), y + Q8_K.OffsetQs + 128 * v, stride, values, mask, ref sums);
                SubBlock4(x + OffsetQs + 512 * v + 128, Scale(scales, 1), y + Q8_K.OffsetQs + 128 * v + 32, stride, values, mask, ref sums);
                SubBlock4(x + OffsetQs + 512 * v + 256, Scale(scales, 2), y + Q8_K.OffsetQs + 128 * v + 64, stride, values, mask, ref sums);
                SubBlock4(x + OffsetQs + 512 * v + 384, Scale(scales, 3), y + Q8_K.OffsetQs + 128 * v + 96, stride, values, mask, ref sums);
            }

            var d = Vector256.Load((float*)x);
            acc0 = Fma.MultiplyAdd(d * Vector256.Create(Unsafe.ReadUnaligned<float>(y)), Avx.ConvertToVector256Single(sums.Q0), acc0);
            acc1 = Fma.MultiplyAdd(d * Vector256.Create(Unsafe.ReadUnaligned<float>(y + stride)), Avx.ConvertToVector256Single(sums.Q1), acc1);
            acc2 = Fma.MultiplyAdd(d * Vector256.Create(Unsafe.ReadUnaligned<float>(y + 2 * stride)), Avx.ConvertToVector256Single(sums.Q2), acc2);
            acc3 = Fma.MultiplyAdd(d * Vector256.Create(Unsafe.ReadUnaligned<float>(y + 3 * stride)), Avx.ConvertToVector256Single(sums.Q3), acc3);
        }

        output[0] = acc0;
        output[1] = acc1;
        output[2] = acc2;
        output[3] = acc3;
    }

    private struct Sums4
    {
        public Vector256<int> Q0, Q1, Q2, Q3;
    }

    /// <summary>
    /// One sub-block (the 4 chunks at <paramref name="q"/>) against the 32 activations at <paramref name="y"/> of
    /// each of four tokens: sums.Qt += scale·Σ value·y. Not inlined, as <see cref="InterleavedQ4_K"/>'s: the JIT's
    /// inlining budget runs out inside the whole block loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SubBlock4(byte* q, Vector256<short> scale, byte* y, nint stride, Vector256<sbyte> values, Vector256<byte> mask, ref Sums4 sums)
    {
        Vector256<int> s0 = sums.Q0, s1 = sums.Q1, s2 = sums.Q2, s3 = sums.Q3;
        for (int c = 0; c < 4; c++)
        {
            var (low, high) = Lookup(Vector256.Load(q + 32 * c), values, mask);
            var (absLow, absHigh) = (Avx2.Abs(low).AsByte(), Avx2.Abs(high).AsByte());
            byte* yc = y + 4 * c;
            s0 = Token(s0, absLow, low, absHigh, high, yc, scale);
            s1 = Token(s1, absLow, low, absHigh, high, yc + stride, scale);
            s2 = Token(s2, absLow, low, absHigh, high, yc + 2 * stride, scale);
            s3 = Token(s3, absLow, low, absHigh, high, yc + 3 * stride, scale);
        }

        sums.Q0 = s0;
        sums.Q1 = s1;
        sums.Q2 = s2;
        sums.Q3 = s3;
    }

    /// <summary>One chunk against one token: sum += scale·(Σ low·y[0..3] + Σ high·y[16..19]) per row lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Token(Vector256<int> sum, Vector256<byte> absLow, Vector256<sbyte> low, Vector256<byte> absHigh,
        Vector256<sbyte> high, byte* y, Vector256<short> scale)
    {
        sum = DotBlocks.MulAddPairs(sum, Avx2.MultiplyAddAdjacent(absLow, Avx2.Sign(RepackedShape.Broadcast(y), low)), scale);
        return DotBlocks.MulAddPairs(sum, Avx2.MultiplyAddAdjacent(absHigh, Avx2.Sign(RepackedShape.Broadcast(y + 16), high)), scale);
    }

    /// <summary>A chunk's low and high nibbles looked up in the value table (signed bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<sbyte> Low, Vector256<sbyte> High) Lookup(Vector256<byte> bits, Vector256<sbyte> values, Vector256<byte> mask) =>
        (Avx2.Shuffle(values, (bits & mask).AsSByte()), Avx2.Shuffle(values, (Avx2.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & mask).AsSByte()));

    /// <summary>value·y for the weights <paramref name="w"/> against the broadcast activations, as vpmaddubsw's int16 pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Products(Vector256<sbyte> w, Vector256<sbyte> y) =>
        Avx2.MultiplyAddAdjacent(Avx2.Abs(w).AsByte(), Avx2.Sign(y, w));

    /// <summary>The eight rows' multipliers ls − 32 of sub-block 4v + i (from vector v of the scales), in both int16 halves of each row's lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Scale(Vector256<byte> scales, int i) =>
        Avx2.Shuffle(scales, RepackedShape.ScalePick(i)).AsInt16() - Vector256.Create((short)32);
}
