using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// Dot product of a Q5_K weight row with a Q8_K activation row.
/// Q5_K block (256 weights, 176 bytes): half d, half dmin, scales[12] (8 six-bit scales and 8 six-bit mins, packed as
/// in Q4_K), qh[32], qs[128]. Weight k of sub-block s = k/32, l = k%32: low nibble (s even) or high nibble (s odd) of
/// qs[32(s/2) + l], fifth bit = bit s of qh[l]; weight = d·scale[s]·q − dmin·min[s].
/// </summary>
[SkipLocalsInit]
public static class DotQ5_K
{
    private const int BlockBytes = 176;
    private const int Q8KBlockBytes = 292; // float d, sbyte qs[256], short bsums[16]
    private const int Q8KQs = 4;
    private const int Q8KBsums = 260;

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int blocks = BlockCount(weights, activations);
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            return DotAvx2(ref MemoryMarshal.GetReference(weights), ref MemoryMarshal.GetReference(activations), blocks);
        }

        return ScalarBlocks(weights, activations, blocks);
    }

    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        ScalarBlocks(weights, activations, BlockCount(weights, activations));

    private static int BlockCount(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        if (weights.Length % BlockBytes != 0)
        {
            throw new ArgumentException(
                $"Q5_K weights are {weights.Length} bytes, not a whole number of {BlockBytes}-byte blocks", nameof(weights));
        }

        int blocks = weights.Length / BlockBytes;
        if (activations.Length != (long)blocks * Q8KBlockBytes)
        {
            throw new ArgumentException(
                $"Q8_K activations are {activations.Length} bytes but {blocks} Q5_K weight blocks need {(long)blocks * Q8KBlockBytes}",
                nameof(activations));
        }

        return blocks;
    }

    /// <summary>Scale (6 bits) and min (6 bits) of sub-block <paramref name="j"/> from the 12 packed bytes.</summary>
    private static (int Scale, int Min) ScaleMin(ReadOnlySpan<byte> packed, int j) =>
        j < 4
            ? (packed[j] & 63, packed[j + 4] & 63)
            : ((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4), (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));

    private static float ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int blocks)
    {
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            ReadOnlySpan<byte> x = weights.Slice(i * BlockBytes, BlockBytes);
            ReadOnlySpan<byte> y = activations.Slice(i * Q8KBlockBytes, Q8KBlockBytes);
            float yd = BitConverter.ToSingle(y);
            ReadOnlySpan<sbyte> q8 = MemoryMarshal.Cast<byte, sbyte>(y.Slice(Q8KQs, 256));
            ReadOnlySpan<short> bsums = MemoryMarshal.Cast<byte, short>(y.Slice(Q8KBsums, 32));
            ReadOnlySpan<byte> packed = x.Slice(4, 12);
            ReadOnlySpan<byte> qh = x.Slice(16, 32);
            ReadOnlySpan<byte> qs = x.Slice(48, 128);

            int sumQ = 0;    // Σ scale·q·q8
            int sumMins = 0; // Σ min·Σq8
            for (int s = 0; s < 8; s++)
            {
                (int scale, int min) = ScaleMin(packed, s);
                int shift = (s & 1) * 4;
                int row = (s >> 1) * 32;
                int dot = 0;
                for (int l = 0; l < 32; l++)
                {
                    int q = ((qs[row + l] >> shift) & 0xF) | (((qh[l] >> s) & 1) << 4);
                    dot += q * q8[s * 32 + l];
                }

                sumQ += scale * dot;
                sumMins += min * (bsums[2 * s] + bsums[2 * s + 1]);
            }

            float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x));
            float dmin = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x[2..]));
            sum += yd * d * sumQ - yd * dmin * sumMins;
        }

        return sum;
    }

    private static float DotAvx2(ref byte weights, ref byte activations, int blocks)
    {
        ref float table = ref HalfConversion.TableStart;
        const uint Low6 = 0x3f3f3f3f, Low4 = 0x0f0f0f0f, Low2 = 0x03030303;
        Vector256<byte> lowNibble = Vector256.Create((byte)0x0F);
        Vector256<byte> bit4 = Vector256.Create((byte)0x10);
        Vector256<float> acc = Vector256<float>.Zero;
        Vector128<float> accMin = Vector128<float>.Zero;

        ref byte x = ref weights;
        ref byte y = ref activations;
        for (int i = 0; i < blocks; i++)
        {
            DotBlocks.Prefetch(ref x, 3);
            float yd = Unsafe.ReadUnaligned<float>(ref y);
            float d = yd * HalfConversion.Lookup(ref table, ref x);
            float dmin = yd * HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 2));

            // 12 packed bytes -> scales[8] | mins[8], one byte each (as ggml's kmask unpacking).
            uint u0 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 4));
            uint u1 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 8));
            uint u2 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 12));
            uint scales0 = u0 & Low6;
            uint scales1 = (u2 & Low4) | (((u0 >> 6) & Low2) << 4);
            uint mins0 = u1 & Low6;
            uint mins1 = ((u2 >> 4) & Low4) | (((u1 >> 6) & Low2) << 4);
            Vector256<short> scalesAndMins = Avx2.ConvertToVector256Int16(Vector128.Create(scales0, scales1, mins0, mins1).AsByte());

            // Min term: Σ_s min[s]·(bsums[2s] + bsums[2s+1]).
            Vector256<short> bsums = Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref y, Q8KBsums)));
            Vector128<short> pairSums = Ssse3.HorizontalAdd(bsums.GetLower(), bsums.GetUpper());
            Vector128<int> minProducts = Sse2.MultiplyAddAdjacent(scalesAndMins.GetUpper(), pairSums);
            accMin = Fma.MultiplyAddNegated(Vector128.Create(dmin), Sse2.ConvertToVector128Single(minProducts), accMin);

            Vector128<byte> scales128 = scalesAndMins.GetLower().AsByte();
            Vector256<byte> scales = Vector256.Create(scales128, scales128);
            Vector256<ushort> qh = Vector256.LoadUnsafe(ref Unsafe.Add(ref x, 16)).AsUInt16();
            ref byte qs = ref Unsafe.Add(ref x, 48);
            ref byte q8 = ref Unsafe.Add(ref y, Q8KQs);

            // Sub-block s takes its fifth bit from bit s of qh, moved to bit 4 of the byte.
            Vector256<int> sumi = SubBlockPair(ref qs, ref q8, scales, 0,
                Avx2.ShiftLeftLogical(qh, 4).AsByte() & bit4, Avx2.ShiftLeftLogical(qh, 3).AsByte() & bit4, lowNibble);
            sumi = Avx2.Add(sumi, SubBlockPair(ref Unsafe.Add(ref qs, 32), ref Unsafe.Add(ref q8, 64), scales, 2,
                Avx2.ShiftLeftLogical(qh, 2).AsByte() & bit4, Avx2.ShiftLeftLogical(qh, 1).AsByte() & bit4, lowNibble));
            sumi = Avx2.Add(sumi, SubBlockPair(ref Unsafe.Add(ref qs, 64), ref Unsafe.Add(ref q8, 128), scales, 4,
                qh.AsByte() & bit4, Avx2.ShiftRightLogical(qh, 1).AsByte() & bit4, lowNibble));
            sumi = Avx2.Add(sumi, SubBlockPair(ref Unsafe.Add(ref qs, 96), ref Unsafe.Add(ref q8, 192), scales, 6,
                Avx2.ShiftRightLogical(qh, 2).AsByte() & bit4, Avx2.ShiftRightLogical(qh, 3).AsByte() & bit4, lowNibble));

            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sumi), acc);

            x = ref Unsafe.Add(ref x, BlockBytes);
            y = ref Unsafe.Add(ref y, Q8KBlockBytes);
        }

        return DotBlocks.HorizontalSum(acc) + DotBlocks.HorizontalSum(accMin);
    }

    /// <summary>
    /// Sub-blocks s and s+1 (64 weights from one row of 32 qs bytes): low nibbles | <paramref name="highLow"/> against
    /// q8[0..32), high nibbles | <paramref name="highHigh"/> against q8[32..64).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SubBlockPair(ref byte qs, ref byte q8, Vector256<byte> scales, int s,
        Vector256<byte> highLow, Vector256<byte> highHigh, Vector256<byte> lowNibble)
    {
        Vector256<byte> bits = Vector256.LoadUnsafe(ref qs);
        Vector256<byte> low = (bits & lowNibble) | highLow;
        Vector256<byte> high = (Avx2.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & lowNibble) | highHigh;
        Vector256<sbyte> q8Low = Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref q8));
        Vector256<sbyte> q8High = Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref q8, 32)));
        Vector256<int> pLow = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales, BroadcastPair(s)).AsInt16(), Avx2.MultiplyAddAdjacent(low, q8Low));
        Vector256<int> pHigh = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales, BroadcastPair(s + 1)).AsInt16(), Avx2.MultiplyAddAdjacent(high, q8High));
        return Avx2.Add(pLow, pHigh);
    }

    /// <summary>Shuffle control that broadcasts 16-bit element <paramref name="k"/> of each 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> BroadcastPair(int k) => Vector256.Create((ushort)(0x0100 + 0x0202 * k)).AsByte();
}
