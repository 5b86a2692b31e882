using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// A K-quant block with 8 sub-blocks of 32 and 6-bit scales and mins (Q4_K, Q5_K): d, dmin, scales[12] as in
/// <see cref="DotQ4_K"/>, an optional qh[32] of fifth bits (bit s of qh[l] for weight l of sub-block s) and qs[128].
/// </summary>
internal interface IScaleMinBlock
{
    static abstract int BlockBytes { get; }

    /// <summary>Where qs starts in the block.</summary>
    static abstract int QsOffset { get; }

    /// <summary>Whether qh[32] (at offset 16) holds a fifth bit per weight.</summary>
    static abstract bool HasFifthBits { get; }

    /// <summary>The single-pair dot every result must match bit for bit.</summary>
    static abstract float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);
}

/// <summary>
/// Weight rows · Q8_K activation rows for the <see cref="IScaleMinBlock"/> types (see <see cref="DotRows"/>): the
/// scales, mins and quants of each weight block are unpacked once for <see cref="DotMultiBlocks.Tokens"/> tokens. Per
/// token it keeps the single-row kernel's accumulators (one for the scaled quants, one for the mins) and its per-lane
/// integer sums, so every result is bit for bit that kernel's.
/// </summary>
[SkipLocalsInit]
internal static unsafe class DotMultiScaleMin<TBlock>
    where TBlock : struct, IScaleMinBlock
{
    private const int Q8KBlockBytes = 292; // float d, sbyte qs[256], short bsums[16]
    private const int Q8KQs = 4;
    private const int Q8KBsums = 260;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Dispatch(weights, rows, activations, results, TBlock.BlockBytes, Q8KBlockBytes, &Avx2Dot4, &DotOne, &ScalarBlocks);

    private static float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => TBlock.DotOne(weights, activations);

    /// <summary>Plain twin: each block unpacked once, then per token the sums of the scalar single-row dot.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Scalar(weights, rows, activations, results, TBlock.BlockBytes, Q8KBlockBytes, &ScalarBlocks);

    private static void ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, Span<float> results, int blocks)
    {
        int activationRowBytes = blocks * Q8KBlockBytes;
        Span<int> q = stackalloc int[256];
        Span<int> scales = stackalloc int[8];
        Span<int> mins = stackalloc int[8];
        results.Clear();
        for (int i = 0; i < blocks; i++)
        {
            ReadOnlySpan<byte> x = weights.Slice(i * TBlock.BlockBytes, TBlock.BlockBytes);
            ReadOnlySpan<byte> qs = x.Slice(TBlock.QsOffset, 128);
            for (int s = 0; s < 8; s++)
            {
                (scales[s], mins[s]) = DotQ4_K.ScaleMin(x.Slice(4, 12), s);
                for (int l = 0; l < 32; l++)
                {
                    int fifth = TBlock.HasFifthBits ? ((x[16 + l] >> s) & 1) << 4 : 0;
                    q[32 * s + l] = ((qs[(s >> 1) * 32 + l] >> ((s & 1) * 4)) & 0xF) | fifth;
                }
            }

            float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x));
            float dmin = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x[2..]));
            for (int t = 0; t < results.Length; t++)
            {
                ReadOnlySpan<byte> y = activations.Slice(t * activationRowBytes + i * Q8KBlockBytes, Q8KBlockBytes);
                float yd = BitConverter.ToSingle(y);
                ReadOnlySpan<sbyte> q8 = MemoryMarshal.Cast<byte, sbyte>(y.Slice(Q8KQs, 256));
                ReadOnlySpan<short> bsums = MemoryMarshal.Cast<byte, short>(y.Slice(Q8KBsums, 32));
                int sumQ = 0;    // Σ scale·q·q8
                int sumMins = 0; // Σ min·Σq8
                for (int s = 0; s < 8; s++)
                {
                    int dot = 0;
                    for (int l = 0; l < 32; l++)
                    {
                        dot += q[32 * s + l] * q8[32 * s + l];
                    }

                    sumQ += scales[s] * dot;
                    sumMins += mins[s] * (bsums[2 * s] + bsums[2 * s + 1]);
                }

                results[t] += yd * d * sumQ - yd * dmin * sumMins;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Avx2Dot4(ref byte x, ref byte y, nint stride, int blocks, ref float results)
    {
        const uint Low6 = 0x3f3f3f3f, Low4 = 0x0f0f0f0f, Low2 = 0x03030303;
        ref float table = ref HalfConversion.TableStart;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        // DotQ4_K's 4-lane mins accumulator, two tokens to a register (lanes never mix, so the sums are the same).
        Vector256<float> mins01 = default, mins23 = default;
        for (int i = 0; i < blocks; i++)
        {
            float dx = HalfConversion.Lookup(ref table, ref x);
            float dminx = HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 2));

            // 12 packed bytes -> scales[8] | mins[8], one byte each (as in DotQ4_K and DotQ5_K).
            uint u0 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 4));
            uint u1 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 8));
            uint u2 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 12));
            uint scales0 = u0 & Low6;
            uint scales1 = (u2 & Low4) | (((u0 >> 6) & Low2) << 4);
            uint mins0 = u1 & Low6;
            uint mins1 = ((u2 >> 4) & Low4) | (((u1 >> 6) & Low2) << 4);
            Vector256<short> scalesAndMins = Avx2.ConvertToVector256Int16(Vector128.Create(scales0, scales1, mins0, mins1).AsByte());
            Vector256<short> mins = Vector256.Create(scalesAndMins.GetUpper(), scalesAndMins.GetUpper());
            Vector128<byte> scales128 = scalesAndMins.GetLower().AsByte();
            Vector256<byte> scales = Vector256.Create(scales128, scales128);

            ref byte y1 = ref Unsafe.Add(ref y, stride);
            ref byte y2 = ref Unsafe.Add(ref y, 2 * stride);
            ref byte y3 = ref Unsafe.Add(ref y, 3 * stride);
            mins01 = Mins(ref y, ref y1, dminx, mins, mins01);
            mins23 = Mins(ref y2, ref y3, dminx, mins, mins23);

            Vector256<int> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
            ref byte qs = ref Unsafe.Add(ref x, TBlock.QsOffset);
            Vector256<ushort> qh = TBlock.HasFifthBits ? Vector256.LoadUnsafe(ref Unsafe.Add(ref x, 16)).AsUInt16() : default;
            Pair(ref qs, qh, 0, scales, ref y, ref y1, ref y2, ref y3, Q8KQs, ref sum0, ref sum1, ref sum2, ref sum3);
            Pair(ref Unsafe.Add(ref qs, 32), qh, 2, scales, ref y, ref y1, ref y2, ref y3, Q8KQs + 64, ref sum0, ref sum1, ref sum2, ref sum3);
            Pair(ref Unsafe.Add(ref qs, 64), qh, 4, scales, ref y, ref y1, ref y2, ref y3, Q8KQs + 128, ref sum0, ref sum1, ref sum2, ref sum3);
            Pair(ref Unsafe.Add(ref qs, 96), qh, 6, scales, ref y, ref y1, ref y2, ref y3, Q8KQs + 192, ref sum0, ref sum1, ref sum2, ref sum3);

            acc0 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(ref y) * dx), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(ref y1) * dx), Avx.ConvertToVector256Single(sum1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(ref y2) * dx), Avx.ConvertToVector256Single(sum2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(ref y3) * dx), Avx.ConvertToVector256Single(sum3), acc3);

            x = ref Unsafe.Add(ref x, TBlock.BlockBytes);
            y = ref Unsafe.Add(ref y, Q8KBlockBytes);
        }

        results = DotBlocks.HorizontalSum(acc0) + DotBlocks.HorizontalSum(mins01.GetLower());
        Unsafe.Add(ref results, 1) = DotBlocks.HorizontalSum(acc1) + DotBlocks.HorizontalSum(mins01.GetUpper());
        Unsafe.Add(ref results, 2) = DotBlocks.HorizontalSum(acc2) + DotBlocks.HorizontalSum(mins23.GetLower());
        Unsafe.Add(ref results, 3) = DotBlocks.HorizontalSum(acc3) + DotBlocks.HorizontalSum(mins23.GetUpper());
    }

    /// <summary>
    /// The mins term of two tokens, one per 128-bit lane: acc − dmin·Σ_s min[s]·(bsums[2s] + bsums[2s+1]), lane for
    /// lane what the single-row kernel computes in a Vector128.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Mins(ref byte ya, ref byte yb, float dminx, Vector256<short> mins, Vector256<float> acc)
    {
        var dmin = Vector256.Create(Vector128.Create(Unsafe.ReadUnaligned<float>(ref ya) * dminx), Vector128.Create(Unsafe.ReadUnaligned<float>(ref yb) * dminx));
        Vector256<short> a = Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref ya, Q8KBsums)));
        Vector256<short> b = Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref yb, Q8KBsums)));
        // [a.lo | b.lo] and [a.hi | b.hi]: one vphaddw then gives each token's pair sums in its own lane.
        Vector256<short> pairSums = Avx2.HorizontalAdd(Avx2.Permute2x128(a, b, 0x20), Avx2.Permute2x128(a, b, 0x31));
        Vector256<int> minProducts = Avx2.MultiplyAddAdjacent(mins, pairSums);
        return Fma.MultiplyAddNegated(dmin, Avx.ConvertToVector256Single(minProducts), acc);
    }

    /// <summary>
    /// Sub-blocks s and s + 1 (64 weights, one row of 32 qs bytes) for each token: low nibbles × q8[0..32) × scale[s],
    /// high nibbles × q8[32..64) × scale[s + 1]; Q5_K adds bit s (and s + 1) of qh as the fifth bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair(ref byte qs, Vector256<ushort> qh, int s, Vector256<byte> scales,
        ref byte y0, ref byte y1, ref byte y2, ref byte y3, nuint q8,
        ref Vector256<int> sum0, ref Vector256<int> sum1, ref Vector256<int> sum2, ref Vector256<int> sum3)
    {
        Vector256<byte> bits = Vector256.LoadUnsafe(ref qs);
        Vector256<byte> low = bits & Vector256.Create((byte)0x0F);
        Vector256<byte> high = Avx2.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);
        if (TBlock.HasFifthBits)
        {
            low |= FifthBit(qh, s);
            high |= FifthBit(qh, s + 1);
        }

        Vector256<short> scaleLow = Avx2.Shuffle(scales, BroadcastPair(s)).AsInt16();
        Vector256<short> scaleHigh = Avx2.Shuffle(scales, BroadcastPair(s + 1)).AsInt16();
        sum0 = Token(low, high, scaleLow, scaleHigh, ref Unsafe.Add(ref y0, q8), sum0);
        sum1 = Token(low, high, scaleLow, scaleHigh, ref Unsafe.Add(ref y1, q8), sum1);
        sum2 = Token(low, high, scaleLow, scaleHigh, ref Unsafe.Add(ref y2, q8), sum2);
        sum3 = Token(low, high, scaleLow, scaleHigh, ref Unsafe.Add(ref y3, q8), sum3);
    }

    /// <summary>Bit s of each qh byte moved to bit 4 (s is a constant after inlining, so one shift and one and).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> FifthBit(Vector256<ushort> qh, int s)
    {
        var moved = s switch
        {
            0 => Avx2.ShiftLeftLogical(qh, 4),
            1 => Avx2.ShiftLeftLogical(qh, 3),
            2 => Avx2.ShiftLeftLogical(qh, 2),
            3 => Avx2.ShiftLeftLogical(qh, 1),
            4 => qh,
            5 => Avx2.ShiftRightLogical(qh, 1),
            6 => Avx2.ShiftRightLogical(qh, 2),
            _ => Avx2.ShiftRightLogical(qh, 3),
        };
        return moved.AsByte() & Vector256.Create((byte)0x10);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Token(Vector256<byte> low, Vector256<byte> high, Vector256<short> scaleLow, Vector256<short> scaleHigh, ref byte q8, Vector256<int> sum)
    {
        Vector256<sbyte> q8Low = Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref q8));
        Vector256<sbyte> q8High = Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref q8, 32)));
        sum = DotBlocks.MulAddPairs(sum, scaleLow, Avx2.MultiplyAddAdjacent(low, q8Low));
        return DotBlocks.MulAddPairs(sum, scaleHigh, Avx2.MultiplyAddAdjacent(high, q8High));
    }

    /// <summary>Shuffle control that broadcasts 16-bit element <paramref name="k"/> of each 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> BroadcastPair(int k) => Vector256.Create((ushort)(0x0100 + 0x0202 * k)).AsByte();
}

/// <summary>Q4_K weight rows · Q8_K activation rows (<see cref="DotRows"/>); each result equals <see cref="DotQ4_K.Dot"/> bit for bit.</summary>
public static class DotMultiQ4_K
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiScaleMin<Block>.Dot(weights, rows, activations, results);

    /// <summary>Plain twin of <see cref="Dot"/>; each result equals <see cref="DotQ4_K.Scalar"/> bit for bit.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiScaleMin<Block>.Scalar(weights, rows, activations, results);

    // d, dmin, scales[12], qs[128] (144 bytes).
    private struct Block : IScaleMinBlock
    {
        public static int BlockBytes => 144;

        public static int QsOffset => 16;

        public static bool HasFifthBits => false;

        public static float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DotQ4_K.Dot(weights, activations);
    }
}

/// <summary>Q5_K weight rows · Q8_K activation rows (<see cref="DotRows"/>); each result equals <see cref="DotQ5_K.Dot"/> bit for bit.</summary>
public static class DotMultiQ5_K
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiScaleMin<Block>.Dot(weights, rows, activations, results);

    /// <summary>Plain twin of <see cref="Dot"/>; each result equals <see cref="DotQ5_K.Scalar"/> bit for bit.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiScaleMin<Block>.Scalar(weights, rows, activations, results);

    // d, dmin, scales[12], qh[32], qs[128] (176 bytes).
    private struct Block : IScaleMinBlock
    {
        public static int BlockBytes => 176;

        public static int QsOffset => 48;

        public static bool HasFifthBits => true;

        public static float DotOne(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => DotQ5_K.Dot(weights, activations);
    }
}
