using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// Q8_0 weight rows repacked eight at a time, against Q8_0 activation rows. One vector lane per weight row: each
/// block's 32 products per row are summed exactly in that row's lane and scaled once, where <see cref="DotQ8_0"/>
/// (llama.cpp's order) keeps eight float partial sums per row and converts and scales each of them per block.
/// </summary>
/// <remarks>
/// Layout of one group (8 rows, the last group padded with zero rows; as many bytes as the 8 rows in the file):
/// first the weights, 256 bytes per block: 8 chunks of 32 bytes, chunk k holding row r's qs[4k..4k+3] at 4r..4r+3;
/// then the scales, 16 bytes per block: d of rows 0..7 (f16). The chunks stay 32-byte aligned.
/// <para>
/// Arithmetic, the same in every path and for every batch size, so a token's output never depends on the batch:
/// per block in order, the exact integer q = Σ w·y, then acc = fma(d·dy, (float)q, acc). The weights go through
/// vpmaddubsw as |w| × (y with w's sign): |w| ≤ 128 and |y| ≤ 127 (Q8_0's quantizer), so each pair sum is exact in int16.
/// </para>
/// </remarks>
[SkipLocalsInit]
public static unsafe class InterleavedQ8_0
{
    public const int GroupRows = 8;
    public const int GroupBlockBytes = GroupRows * Q8_0.BlockBytes;
    private const int BlockQsBytes = GroupRows * Q8_0.BlockSize;

    /// <summary>Q8_0's repacked layout in the quant table (no activation offsets).</summary>
    public static readonly RepackedLayout Layout = new(GroupRows, GroupBlockBytes, Repack,
        (groups, rows, activations, _, output, stride) => Dot(groups, rows, activations, output, stride),
        (groups, rows, activations, _, output, stride) => Scalar(groups, rows, activations, output, stride));

    /// <summary>Groups of 8 rows needed for <paramref name="rows"/> rows.</summary>
    public static int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;

    /// <summary>Bytes of a repacked [rows, cols] matrix.</summary>
    public static long Bytes(int rows, int cols) => (long)Groups(rows) * (cols / Q8_0.BlockSize) * GroupBlockBytes;

    /// <summary>Repacks group <paramref name="group"/> of a Q8_0 matrix [rows, cols] (rows stored one after another).</summary>
    public static void Repack(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination)
    {
        var (blocks, rowBytes) = RepackedShape.CheckRepack(matrix, rows, cols, group, destination, "Q8_0", Q8_0.BlockSize, Q8_0.BlockBytes, GroupRows, GroupBlockBytes);

        destination.Clear();
        var scales = destination[(blocks * BlockQsBytes)..];
        for (int r = 0; r < GroupRows && group * GroupRows + r < rows; r++)
        {
            var row = matrix.Slice((int)(rowBytes * (group * GroupRows + r)), (int)rowBytes);
            for (int b = 0; b < blocks; b++)
            {
                var block = row.Slice(b * Q8_0.BlockBytes, Q8_0.BlockBytes);
                block.Slice(Q8_0.OffsetD, 2).CopyTo(scales[(16 * b + 2 * r)..]);
                for (int k = 0; k < 8; k++)
                    block.Slice(Q8_0.OffsetQs + 4 * k, 4).CopyTo(destination[(b * BlockQsBytes + 32 * k + 4 * r)..]);
            }
        }
    }

    /// <summary>
    /// output[t·stride + r] = row r · activation row t (Q8_0), for the first <paramref name="rows"/> rows of the
    /// <paramref name="groups"/> repacked groups and every token.
    /// </summary>
    public static void Dot(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride) =>
        RepackedShape.Dot8(groups, rows, activations, output, stride, GroupBlockBytes, Q8_0.BlockBytes, ScalarGroups, &Tile4, &Tile2x1);

    /// <summary>Plain twin of <see cref="Dot"/>: the same integers and float operations, one row and token at a time.</summary>
    public static void Scalar(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride) =>
        RepackedShape.Scalar8(groups, rows, activations, output, stride, GroupBlockBytes, Q8_0.BlockBytes, ScalarGroups);

    private static void ScalarGroups(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, Span<float> output, int stride,
        int blocks, int tokens)
    {
        int groupBytes = blocks * GroupBlockBytes;
        int activationRowBytes = blocks * Q8_0.BlockBytes;
        for (int row = 0; row < rows; row++)
        {
            var group = groups.Slice(row / GroupRows * groupBytes, groupBytes);
            var qs = MemoryMarshal.Cast<byte, sbyte>(group[..(blocks * BlockQsBytes)]);
            var scales = group[(blocks * BlockQsBytes)..];
            int r = row % GroupRows;
            for (int t = 0; t < tokens; t++)
            {
                float acc = 0;
                for (int b = 0; b < blocks; b++)
                {
                    var y = activations.Slice(t * activationRowBytes + b * Q8_0.BlockBytes, Q8_0.BlockBytes);
                    int sum = 0;
                    for (int l = 0; l < 32; l++)
                        sum += qs[b * BlockQsBytes + 32 * (l / 4) + 4 * r + l % 4] * (sbyte)y[Q8_0.OffsetQs + l];
                    float d = DotBlocks.ReadHalf(scales, 16 * b + 2 * r) * DotBlocks.ReadHalf(y, Q8_0.OffsetD);
                    acc = MathF.FusedMultiplyAdd(d, sum, acc);
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
        ref float halves = ref HalfConversion.TableStart;
        byte* scales = x + (nint)blocks * BlockQsBytes;
        Vector256<float> acc0 = default, acc1 = default;
        for (int b = 0; b < blocks; b++, x += BlockQsBytes, scales += 16, y += Q8_0.BlockBytes)
        {
            // Both groups' next weights, 2 KiB ahead as in the single-row dots (their scales are read 1/16 as fast).
            DotBlocks.Prefetch(ref x[0], 4);
            DotBlocks.Prefetch(ref x[second], 4);
            Vector256<int> sum0 = default, sum1 = default;
            byte* yk = y + Q8_0.OffsetQs;
            for (sbyte* chunk = (sbyte*)x; chunk < x + BlockQsBytes; chunk += 32, yk += 4)
            {
                var y4 = RepackedShape.Broadcast(yk);
                sum0 += DotBlocks.MulSumSigned(Vector256.Load(chunk), y4);
                sum1 += DotBlocks.MulSumSigned(Vector256.Load(chunk + second), y4);
            }

            var dy = Vector256.Create(HalfConversion.Lookup(ref halves, ref *y));
            acc0 = Fma.MultiplyAdd(HalfConversion.ToSingle(Vector128.Load((short*)scales)) * dy, Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(HalfConversion.ToSingle(Vector128.Load((short*)(scales + second))) * dy, Avx.ConvertToVector256Single(sum1), acc1);
        }

        output[0] = acc0;
        output[1] = acc1;
    }

    /// <summary>One group against four tokens: each chunk's |w| taken once for all four.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Tile4(byte* x, int blocks, byte* y, nint stride, ref Accumulators4 output)
    {
        ref float halves = ref HalfConversion.TableStart;
        byte* scales = x + (nint)blocks * BlockQsBytes;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int b = 0; b < blocks; b++, x += BlockQsBytes, scales += 16, y += Q8_0.BlockBytes)
        {
            Vector256<int> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
            byte* yk = y + Q8_0.OffsetQs;
            for (sbyte* chunk = (sbyte*)x; chunk < x + BlockQsBytes; chunk += 32, yk += 4)
            {
                var w = Vector256.Load(chunk);
                var magnitude = Avx2.Abs(w).AsByte();
                sum0 = DotBlocks.MulSumAdd(sum0, magnitude, Avx2.Sign(RepackedShape.Broadcast(yk), w));
                sum1 = DotBlocks.MulSumAdd(sum1, magnitude, Avx2.Sign(RepackedShape.Broadcast(yk + stride), w));
                sum2 = DotBlocks.MulSumAdd(sum2, magnitude, Avx2.Sign(RepackedShape.Broadcast(yk + 2 * stride), w));
                sum3 = DotBlocks.MulSumAdd(sum3, magnitude, Avx2.Sign(RepackedShape.Broadcast(yk + 3 * stride), w));
            }

            var d = HalfConversion.ToSingle(Vector128.Load((short*)scales));
            acc0 = Fma.MultiplyAdd(d * Vector256.Create(HalfConversion.Lookup(ref halves, ref *y)), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(d * Vector256.Create(HalfConversion.Lookup(ref halves, ref *(y + stride))), Avx.ConvertToVector256Single(sum1), acc1);
            acc2 = Fma.MultiplyAdd(d * Vector256.Create(HalfConversion.Lookup(ref halves, ref *(y + 2 * stride))), Avx.ConvertToVector256Single(sum2), acc2);
            acc3 = Fma.MultiplyAdd(d * Vector256.Create(HalfConversion.Lookup(ref halves, ref *(y + 3 * stride))), Avx.ConvertToVector256Single(sum3), acc3);
        }

        output[0] = acc0;
        output[1] = acc1;
        output[2] = acc2;
        output[3] = acc3;
    }
}
