using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// Dot product of a Q2_K weight row with a Q8_K activation row.
/// Q2_K block (256 weights, 84 bytes): scales[16] (low nibble = scale, high nibble = min, per 16 weights), qs[64],
/// half d, half dmin. Weight k of 128-chunk c sits in bits 2g..2g+1 of qs[32c + k%32], g = (k%128)/32.
/// Weight = d·scale·q − dmin·min; the min term needs only the activation block sums.
/// </summary>
[SkipLocalsInit]
public static class DotQ2_K
{
    private const int BlockBytes = 84;
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
                $"Q2_K weights are {weights.Length} bytes, not a whole number of {BlockBytes}-byte blocks", nameof(weights));
        }

        int blocks = weights.Length / BlockBytes;
        if (activations.Length != (long)blocks * Q8KBlockBytes)
        {
            throw new ArgumentException(
                $"Q8_K activations are {activations.Length} bytes but {blocks} Q2_K weight blocks need {(long)blocks * Q8KBlockBytes}",
                nameof(activations));
        }

        return blocks;
    }

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
            ReadOnlySpan<byte> scales = x[..16];
            ReadOnlySpan<byte> qs = x.Slice(16, 64);

            int sumQ = 0;    // Σ scale·q·q8
            int sumMins = 0; // Σ min·Σq8
            for (int s = 0; s < 16; s++)
            {
                int chunk = s / 8, shift = 2 * (s % 8 / 2), half = 16 * (s % 2);
                int dot = 0;
                for (int l = 0; l < 16; l++)
                {
                    dot += ((qs[32 * chunk + half + l] >> shift) & 3) * q8[16 * s + l];
                }

                sumQ += (scales[s] & 0xF) * dot;
                sumMins += (scales[s] >> 4) * bsums[s];
            }

            float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x[80..]));
            float dmin = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x[82..]));
            sum += yd * d * sumQ - yd * dmin * sumMins;
        }

        return sum;
    }

    private static float DotAvx2(ref byte weights, ref byte activations, int blocks)
    {
        ref float table = ref HalfConversion.TableStart;
        Vector128<byte> lowNibble = Vector128.Create((byte)0x0F);
        Vector256<byte> low2 = Vector256.Create((byte)3);
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<float> accMin = Vector256<float>.Zero;

        ref byte x = ref weights;
        ref byte y = ref activations;
        for (int i = 0; i < blocks; i++)
        {
            DotBlocks.Prefetch(ref x, 2);
            float yd = Unsafe.ReadUnaligned<float>(ref y);
            float d = yd * HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 80));
            float dmin = yd * HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 82));

            Vector128<byte> scalesAndMins = Vector128.LoadUnsafe(ref x);
            Vector128<byte> scales8 = scalesAndMins & lowNibble;
            Vector128<byte> mins8 = Sse2.ShiftRightLogical(scalesAndMins.AsUInt16(), 4).AsByte() & lowNibble;

            // Min term: Σ_s min[s]·bsums[s].
            Vector256<short> bsums = Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref y, Q8KBsums)));
            Vector256<int> minProducts = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(mins8), bsums);
            accMin = Fma.MultiplyAddNegated(Vector256.Create(dmin), Avx.ConvertToVector256Single(minProducts), accMin);

            // 16-bit scales 0..7 in both lanes for the first 128 weights, 8..15 for the second.
            Vector256<short> allScales = Avx2.ConvertToVector256Int16(scales8);
            Vector128<byte> scalesLow = allScales.GetLower().AsByte(), scalesHigh = allScales.GetUpper().AsByte();
            ref byte qs = ref Unsafe.Add(ref x, 16);
            ref byte q8 = ref Unsafe.Add(ref y, Q8KQs);

            Vector256<int> sumi = Chunk128(ref qs, ref q8, Vector256.Create(scalesLow, scalesLow), low2);
            sumi = Avx2.Add(sumi, Chunk128(ref Unsafe.Add(ref qs, 32), ref Unsafe.Add(ref q8, 128), Vector256.Create(scalesHigh, scalesHigh), low2));

            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sumi), acc);

            x = ref Unsafe.Add(ref x, BlockBytes);
            y = ref Unsafe.Add(ref y, Q8KBlockBytes);
        }

        return Vector256.Sum(Avx.Add(acc, accMin));
    }

    /// <summary>128 weights from 32 qs bytes (four 2-bit planes) against q8[0..128), with this chunk's 8 scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk128(ref byte qs, ref byte q8, Vector256<byte> scales, Vector256<byte> low2)
    {
        Vector256<ushort> bits = Vector256.LoadUnsafe(ref qs).AsUInt16();
        Vector256<int> p0 = Plane(bits.AsByte() & low2, ref q8, scales, ScalePairShuffle(0));
        Vector256<int> p1 = Plane(Avx2.ShiftRightLogical(bits, 2).AsByte() & low2, ref Unsafe.Add(ref q8, 32), scales, ScalePairShuffle(1));
        Vector256<int> p2 = Plane(Avx2.ShiftRightLogical(bits, 4).AsByte() & low2, ref Unsafe.Add(ref q8, 64), scales, ScalePairShuffle(2));
        Vector256<int> p3 = Plane(Avx2.ShiftRightLogical(bits, 6).AsByte() & low2, ref Unsafe.Add(ref q8, 96), scales, ScalePairShuffle(3));
        return Avx2.Add(Avx2.Add(p0, p1), Avx2.Add(p2, p3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Plane(Vector256<byte> q, ref byte q8, Vector256<byte> scales, Vector256<byte> pick)
    {
        Vector256<short> products = Avx2.MultiplyAddAdjacent(q, Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref q8)));
        return Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales, pick).AsInt16(), products);
    }

    /// <summary>
    /// Shuffle control for 32 weights spanning sub-blocks 2k (lower lane) and 2k+1 (upper lane): broadcasts 16-bit
    /// scale 2k across the lower lane and 2k+1 across the upper.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> ScalePairShuffle(int k) =>
        Vector256.Create(Vector128.Create((ushort)(0x0100 + 0x0404 * k)), Vector128.Create((ushort)(0x0302 + 0x0404 * k))).AsByte();
}
