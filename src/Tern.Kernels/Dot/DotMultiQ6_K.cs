using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// Q6_K weight rows · Q8_K activation rows (<see cref="DotRows"/>; layouts in <see cref="DotQ6_K"/>): the 6-bit quants
/// and scales of each weight block are assembled once for <see cref="Tokens"/> tokens. Per token it keeps DotQ6_K's
/// accumulator and per-lane integer sums, so every result is bit for bit <see cref="DotQ6_K.Dot"/> of the same pair.
/// </summary>
[SkipLocalsInit]
public static unsafe class DotMultiQ6_K
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    private const int BlockBytes = 210;
    private const int Q8KBlockBytes = 292; // float d, sbyte qs[256], short bsums[16]
    private const int Q8KQs = 4;
    private const int Q8KBsums = 260;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Dispatch(weights, rows, activations, results, BlockBytes, Q8KBlockBytes, &Avx2Dot4, &DotQ6_K.Dot, &ScalarBlocks);

    /// <summary>Plain twin: each block unpacked once, then per token the sums of <see cref="DotQ6_K.Scalar"/>.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Scalar(weights, rows, activations, results, BlockBytes, Q8KBlockBytes, &ScalarBlocks);

    private static void ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, Span<float> results, int blocks)
    {
        int rowBytes = blocks * Q8KBlockBytes;
        Span<int> q = stackalloc int[256];
        results.Clear();
        for (int i = 0; i < blocks; i++)
        {
            ReadOnlySpan<byte> x = weights.Slice(i * BlockBytes, BlockBytes);
            ReadOnlySpan<byte> ql = x[..128];
            ReadOnlySpan<byte> qh = x.Slice(128, 64);
            ReadOnlySpan<sbyte> scales = MemoryMarshal.Cast<byte, sbyte>(x.Slice(192, 16));
            // Weight k = 128·chunk + 32·group + l, stored as q − 32 with q in 0..63; its scale is scales[k / 16].
            for (int chunk = 0; chunk < 2; chunk++)
            {
                for (int group = 0; group < 4; group++)
                {
                    int lowRow = 64 * chunk + 32 * (group & 1), lowShift = 4 * (group >> 1), highShift = 2 * group;
                    for (int l = 0; l < 32; l++)
                    {
                        q[128 * chunk + 32 * group + l] = (((ql[lowRow + l] >> lowShift) & 0xF) | (((qh[32 * chunk + l] >> highShift) & 3) << 4)) - 32;
                    }
                }
            }

            float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x[208..]));
            for (int t = 0; t < results.Length; t++)
            {
                ReadOnlySpan<byte> y = activations.Slice(t * rowBytes + i * Q8KBlockBytes, Q8KBlockBytes);
                float yd = BitConverter.ToSingle(y);
                ReadOnlySpan<sbyte> q8 = MemoryMarshal.Cast<byte, sbyte>(y.Slice(Q8KQs, 256));
                int sumQ = 0;
                for (int s = 0; s < 16; s++)
                {
                    int dot = 0;
                    for (int l = 16 * s; l < 16 * s + 16; l++)
                    {
                        dot += q[l] * q8[l];
                    }

                    sumQ += scales[s] * dot;
                }

                results[t] += yd * d * sumQ;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Avx2Dot4(ref byte x, ref byte y, nint stride, int blocks, ref float results)
    {
        ref float table = ref HalfConversion.TableStart;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int i = 0; i < blocks; i++)
        {
            float dx = HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 208));
            Vector256<short> allScales = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref x, 192))));
            ref byte y1 = ref Unsafe.Add(ref y, stride);
            ref byte y2 = ref Unsafe.Add(ref y, 2 * stride);
            ref byte y3 = ref Unsafe.Add(ref y, 3 * stride);

            // The stored weights are value + 32 (unsigned, as vpmaddubsw wants); the 32s come back per token from
            // the activation sums: Σ_s scale[s]·32·bsums[s].
            Vector256<int> sum0 = -Offset(ref y, allScales), sum1 = -Offset(ref y1, allScales);
            Vector256<int> sum2 = -Offset(ref y2, allScales), sum3 = -Offset(ref y3, allScales);
            for (int chunk = 0; chunk < 2; chunk++)
            {
                Vector128<byte> half = chunk == 0 ? allScales.GetLower().AsByte() : allScales.GetUpper().AsByte();
                Vector256<byte> scales = Vector256.Create(half, half);
                Vector256<byte> ql0 = Vector256.LoadUnsafe(ref x, (nuint)(64 * chunk));
                Vector256<byte> ql1 = Vector256.LoadUnsafe(ref x, (nuint)(64 * chunk + 32));
                Vector256<ushort> high = Vector256.LoadUnsafe(ref x, (nuint)(128 + 32 * chunk)).AsUInt16();
                nuint q8 = (nuint)(Q8KQs + 128 * chunk);

                // Group g takes bits 2g..2g+1 of qh, moved to bits 4..5 of the byte.
                Vector256<byte> lowNibble = Vector256.Create((byte)0x0F), bits45 = Vector256.Create((byte)0x30);
                Vector256<byte> q = (ql0 & lowNibble) | (Avx2.ShiftLeftLogical(high, 4).AsByte() & bits45);
                Plane(q, Avx2.Shuffle(scales, ScalePairShuffle(0)).AsInt16(), ref y, ref y1, ref y2, ref y3, q8, ref sum0, ref sum1, ref sum2, ref sum3);
                q = (ql1 & lowNibble) | (Avx2.ShiftLeftLogical(high, 2).AsByte() & bits45);
                Plane(q, Avx2.Shuffle(scales, ScalePairShuffle(1)).AsInt16(), ref y, ref y1, ref y2, ref y3, q8 + 32, ref sum0, ref sum1, ref sum2, ref sum3);
                q = (Avx2.ShiftRightLogical(ql0.AsUInt16(), 4).AsByte() & lowNibble) | (high.AsByte() & bits45);
                Plane(q, Avx2.Shuffle(scales, ScalePairShuffle(2)).AsInt16(), ref y, ref y1, ref y2, ref y3, q8 + 64, ref sum0, ref sum1, ref sum2, ref sum3);
                q = (Avx2.ShiftRightLogical(ql1.AsUInt16(), 4).AsByte() & lowNibble) | (Avx2.ShiftRightLogical(high, 2).AsByte() & bits45);
                Plane(q, Avx2.Shuffle(scales, ScalePairShuffle(3)).AsInt16(), ref y, ref y1, ref y2, ref y3, q8 + 96, ref sum0, ref sum1, ref sum2, ref sum3);
            }

            acc0 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(ref y) * dx), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(ref y1) * dx), Avx.ConvertToVector256Single(sum1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(ref y2) * dx), Avx.ConvertToVector256Single(sum2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(ref y3) * dx), Avx.ConvertToVector256Single(sum3), acc3);

            x = ref Unsafe.Add(ref x, BlockBytes);
            y = ref Unsafe.Add(ref y, Q8KBlockBytes);
        }

        DotBlocks.StoreSums(ref results, acc0, acc1, acc2, acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Offset(ref byte y, Vector256<short> allScales)
    {
        Vector256<short> bsums = Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref y, Q8KBsums)));
        return Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(allScales, bsums), 5);
    }

    /// <summary>32 weights (values 0..63) with the scales of their two sub-blocks of 16, against each token's q8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Plane(Vector256<byte> q, Vector256<short> scales, ref byte y0, ref byte y1, ref byte y2, ref byte y3, nuint q8,
        ref Vector256<int> sum0, ref Vector256<int> sum1, ref Vector256<int> sum2, ref Vector256<int> sum3)
    {
        sum0 = DotBlocks.MulAddPairs(sum0, scales, Avx2.MultiplyAddAdjacent(q, Vector256.LoadUnsafe(ref y0, q8).AsSByte()));
        sum1 = DotBlocks.MulAddPairs(sum1, scales, Avx2.MultiplyAddAdjacent(q, Vector256.LoadUnsafe(ref y1, q8).AsSByte()));
        sum2 = DotBlocks.MulAddPairs(sum2, scales, Avx2.MultiplyAddAdjacent(q, Vector256.LoadUnsafe(ref y2, q8).AsSByte()));
        sum3 = DotBlocks.MulAddPairs(sum3, scales, Avx2.MultiplyAddAdjacent(q, Vector256.LoadUnsafe(ref y3, q8).AsSByte()));
    }

    /// <summary>Broadcasts 16-bit scale 2k across the lower lane and 2k+1 across the upper lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> ScalePairShuffle(int k) =>
        Vector256.Create(Vector128.Create((ushort)(0x0100 + 0x0404 * k)), Vector128.Create((ushort)(0x0302 + 0x0404 * k))).AsByte();
}
