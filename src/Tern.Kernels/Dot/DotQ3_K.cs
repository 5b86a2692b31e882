using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// Dot product of a Q3_K weight row with a Q8_K activation row.
/// Q3_K block (256 weights, 110 bytes): hmask[32], qs[64], scales[12] (16 six-bit scales stored +32), half d.
/// Weight k of 128-chunk c, group g = (k%128)/32, l = k%32: low bits 2g..2g+1 of qs[32c + l], high bit (4c+g) of
/// hmask[l]; value = (low | high·4) − 4, weight = d·(scale − 32)·value.
/// </summary>
[SkipLocalsInit]
public static class DotQ3_K
{
    private const int BlockBytes = 110;
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
                $"Q3_K weights are {weights.Length} bytes, not a whole number of {BlockBytes}-byte blocks", nameof(weights));
        }

        int blocks = weights.Length / BlockBytes;
        if (activations.Length != (long)blocks * Q8KBlockBytes)
        {
            throw new ArgumentException(
                $"Q8_K activations are {activations.Length} bytes but {blocks} Q3_K weight blocks need {(long)blocks * Q8KBlockBytes}",
                nameof(activations));
        }

        return blocks;
    }

    /// <summary>Unpacks the 16 six-bit scales (still offset by 32) as ggml does: four bytes at a time.</summary>
    private static (uint S0, uint S1, uint S2, uint S3) UnpackScales(uint a0, uint a1, uint a2)
    {
        const uint Low4 = 0x0f0f0f0f, Low2 = 0x03030303;
        return (
            (a0 & Low4) | ((a2 & Low2) << 4),
            (a1 & Low4) | (((a2 >> 2) & Low2) << 4),
            ((a0 >> 4) & Low4) | (((a2 >> 4) & Low2) << 4),
            ((a1 >> 4) & Low4) | (((a2 >> 6) & Low2) << 4));
    }

    private static float ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int blocks)
    {
        Span<sbyte> scales = stackalloc sbyte[16];
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            ReadOnlySpan<byte> x = weights.Slice(i * BlockBytes, BlockBytes);
            ReadOnlySpan<byte> y = activations.Slice(i * Q8KBlockBytes, Q8KBlockBytes);
            float yd = BitConverter.ToSingle(y);
            ReadOnlySpan<sbyte> q8 = MemoryMarshal.Cast<byte, sbyte>(y.Slice(Q8KQs, 256));
            ReadOnlySpan<byte> hmask = x[..32];
            ReadOnlySpan<byte> qs = x.Slice(32, 64);

            var (s0, s1, s2, s3) = UnpackScales(BitConverter.ToUInt32(x[96..]), BitConverter.ToUInt32(x[100..]), BitConverter.ToUInt32(x[104..]));
            ReadOnlySpan<uint> unpacked = [s0, s1, s2, s3];
            ReadOnlySpan<byte> scaleBytes = MemoryMarshal.AsBytes(unpacked);
            for (int s = 0; s < 16; s++)
            {
                scales[s] = (sbyte)(scaleBytes[s] - 32);
            }

            int sumQ = 0;
            for (int chunk = 0; chunk < 2; chunk++)
            {
                for (int group = 0; group < 4; group++)
                {
                    int shift = 2 * group, bit = 4 * chunk + group;
                    for (int half = 0; half < 2; half++)
                    {
                        int dot = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++)
                        {
                            int q = ((qs[32 * chunk + l] >> shift) & 3) | (((hmask[l] >> bit) & 1) << 2);
                            dot += (q - 4) * q8[128 * chunk + 32 * group + l];
                        }

                        sumQ += scales[8 * chunk + 2 * group + half] * dot;
                    }
                }
            }

            float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x[108..]));
            sum += yd * d * sumQ;
        }

        return sum;
    }

    private static float DotAvx2(ref byte weights, ref byte activations, int blocks)
    {
        ref float table = ref HalfConversion.TableStart;
        Vector256<byte> low2 = Vector256.Create((byte)3);
        Vector256<byte> bit2 = Vector256.Create((byte)4);
        Vector256<float> acc = Vector256<float>.Zero;

        ref byte x = ref weights;
        ref byte y = ref activations;
        for (int i = 0; i < blocks; i++)
        {
            DotBlocks.Prefetch(ref x, 2);
            float d = Unsafe.ReadUnaligned<float>(ref y) * HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 108));

            var (s0, s1, s2, s3) = UnpackScales(
                Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 96)),
                Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 100)),
                Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 104)));
            Vector128<sbyte> scales8 = Vector128.Create(s0, s1, s2, s3).AsSByte() - Vector128.Create((sbyte)32);
            Vector256<short> allScales = Avx2.ConvertToVector256Int16(scales8);

            // The weights are stored as value + 4 in 0..7 (unsigned, as vpmaddubsw wants); take the 4 back once
            // per block from the activation sums: Σ_s scale[s]·4·bsums[s].
            Vector256<short> bsums = Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref y, Q8KBsums)));
            Vector256<int> offset = Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(allScales, bsums), 2);

            Vector128<byte> scalesLow = allScales.GetLower().AsByte(), scalesHigh = allScales.GetUpper().AsByte();
            Vector256<ushort> hmask = Vector256.LoadUnsafe(ref x).AsUInt16();
            ref byte qs = ref Unsafe.Add(ref x, 32);
            ref byte q8 = ref Unsafe.Add(ref y, Q8KQs);

            // Chunk 0 takes its high bits from hmask bits 0..3, chunk 1 from bits 4..7 (shifted down first).
            Vector256<int> sumi = Avx2.Add(
                Chunk128(ref qs, ref q8, hmask, Vector256.Create(scalesLow, scalesLow), low2, bit2),
                Chunk128(ref Unsafe.Add(ref qs, 32), ref Unsafe.Add(ref q8, 128), Avx2.ShiftRightLogical(hmask, 4),
                    Vector256.Create(scalesHigh, scalesHigh), low2, bit2));

            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(Avx2.Subtract(sumi, offset)), acc);

            x = ref Unsafe.Add(ref x, BlockBytes);
            y = ref Unsafe.Add(ref y, Q8KBlockBytes);
        }

        return Vector256.Sum(acc);
    }

    /// <summary>
    /// 128 weights: group g (32 weights) has its low two bits at bits 2g..2g+1 of the 32 qs bytes and its high bit at
    /// bit g of <paramref name="hmask"/>; both are moved into a 0..7 value. Uses this chunk's 8 scales.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk128(ref byte qs, ref byte q8, Vector256<ushort> hmask, Vector256<byte> scales,
        Vector256<byte> low2, Vector256<byte> bit2)
    {
        Vector256<ushort> bits = Vector256.LoadUnsafe(ref qs).AsUInt16();
        Vector256<byte> q0 = (bits.AsByte() & low2) | (Avx2.ShiftLeftLogical(hmask, 2).AsByte() & bit2);
        Vector256<byte> q1 = (Avx2.ShiftRightLogical(bits, 2).AsByte() & low2) | (Avx2.ShiftLeftLogical(hmask, 1).AsByte() & bit2);
        Vector256<byte> q2 = (Avx2.ShiftRightLogical(bits, 4).AsByte() & low2) | (hmask.AsByte() & bit2);
        Vector256<byte> q3 = (Avx2.ShiftRightLogical(bits, 6).AsByte() & low2) | (Avx2.ShiftRightLogical(hmask, 1).AsByte() & bit2);
        Vector256<int> p0 = Plane(q0, ref q8, scales, ScalePairShuffle(0));
        Vector256<int> p1 = Plane(q1, ref Unsafe.Add(ref q8, 32), scales, ScalePairShuffle(1));
        Vector256<int> p2 = Plane(q2, ref Unsafe.Add(ref q8, 64), scales, ScalePairShuffle(2));
        Vector256<int> p3 = Plane(q3, ref Unsafe.Add(ref q8, 96), scales, ScalePairShuffle(3));
        return Avx2.Add(Avx2.Add(p0, p1), Avx2.Add(p2, p3));
    }

    /// <summary>32 weights (values 0..7) × q8 with the scales of their two sub-blocks of 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Plane(Vector256<byte> q, ref byte q8, Vector256<byte> scales, Vector256<byte> pick)
    {
        Vector256<short> products = Avx2.MultiplyAddAdjacent(q, Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref q8)));
        return Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales, pick).AsInt16(), products);
    }

    /// <summary>Broadcasts 16-bit scale 2k across the lower lane and 2k+1 across the upper lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> ScalePairShuffle(int k) =>
        Vector256.Create(Vector128.Create((ushort)(0x0100 + 0x0404 * k)), Vector128.Create((ushort)(0x0302 + 0x0404 * k))).AsByte();
}
