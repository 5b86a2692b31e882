using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// Dot product of a Q6_K weight row with a Q8_K activation row.
/// Q6_K block (256 weights, 210 bytes): ql[128], qh[64], sbyte scales[16] (per 16 weights), half d.
/// Weight k of 128-chunk c, group g = (k%128)/32, l = k%32: low nibble (g &lt; 2) or high nibble (g ≥ 2) of
/// ql[64c + 32(g%2) + l], top two bits = bits 2g..2g+1 of qh[32c + l]; weight = d·scale·(q − 32).
/// </summary>
[SkipLocalsInit]
public static class DotQ6_K
{
    private const int BlockBytes = 210;
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
                $"Q6_K weights are {weights.Length} bytes, not a whole number of {BlockBytes}-byte blocks", nameof(weights));
        }

        int blocks = weights.Length / BlockBytes;
        if (activations.Length != (long)blocks * Q8KBlockBytes)
        {
            throw new ArgumentException(
                $"Q8_K activations are {activations.Length} bytes but {blocks} Q6_K weight blocks need {(long)blocks * Q8KBlockBytes}",
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
            ReadOnlySpan<byte> ql = x[..128];
            ReadOnlySpan<byte> qh = x.Slice(128, 64);
            ReadOnlySpan<sbyte> scales = MemoryMarshal.Cast<byte, sbyte>(x.Slice(192, 16));

            int sumQ = 0;
            for (int chunk = 0; chunk < 2; chunk++)
            {
                for (int group = 0; group < 4; group++)
                {
                    int lowRow = 64 * chunk + 32 * (group & 1), lowShift = 4 * (group >> 1), highShift = 2 * group;
                    for (int half = 0; half < 2; half++)
                    {
                        int dot = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++)
                        {
                            int q = ((ql[lowRow + l] >> lowShift) & 0xF) | (((qh[32 * chunk + l] >> highShift) & 3) << 4);
                            dot += (q - 32) * q8[128 * chunk + 32 * group + l];
                        }

                        sumQ += scales[8 * chunk + 2 * group + half] * dot;
                    }
                }
            }

            float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(x[208..]));
            sum += yd * d * sumQ;
        }

        return sum;
    }

    private static float DotAvx2(ref byte weights, ref byte activations, int blocks)
    {
        ref float table = ref HalfConversion.TableStart;
        Vector256<byte> lowNibble = Vector256.Create((byte)0x0F);
        Vector256<byte> bits45 = Vector256.Create((byte)0x30);
        Vector256<float> acc = Vector256<float>.Zero;

        ref byte x = ref weights;
        ref byte y = ref activations;
        for (int i = 0; i < blocks; i++)
        {
            DotBlocks.Prefetch(ref x, 4);
            float d = Unsafe.ReadUnaligned<float>(ref y) * HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 208));

            Vector256<short> allScales = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref x, 192))));

            // The weights are stored as value + 32 in 0..63 (unsigned, as vpmaddubsw wants); take the 32 back once
            // per block from the activation sums: Σ_s scale[s]·32·bsums[s].
            Vector256<short> bsums = Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref y, Q8KBsums)));
            Vector256<int> offset = Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(allScales, bsums), 5);

            Vector128<byte> scalesLow = allScales.GetLower().AsByte(), scalesHigh = allScales.GetUpper().AsByte();
            ref byte q8 = ref Unsafe.Add(ref y, Q8KQs);
            Vector256<int> sumi = Chunk128(ref x, ref Unsafe.Add(ref x, 128), ref q8, Vector256.Create(scalesLow, scalesLow), lowNibble, bits45);
            sumi = Avx2.Add(sumi, Chunk128(ref Unsafe.Add(ref x, 64), ref Unsafe.Add(ref x, 160), ref Unsafe.Add(ref q8, 128),
                Vector256.Create(scalesHigh, scalesHigh), lowNibble, bits45));

            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(Avx2.Subtract(sumi, offset)), acc);

            x = ref Unsafe.Add(ref x, BlockBytes);
            y = ref Unsafe.Add(ref y, Q8KBlockBytes);
        }

        return DotBlocks.HorizontalSum(acc);
    }

    /// <summary>128 weights from ql[0..64) and qh[0..32) against q8[0..128), with this chunk's 8 scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk128(ref byte ql, ref byte qh, ref byte q8, Vector256<byte> scales,
        Vector256<byte> lowNibble, Vector256<byte> bits45)
    {
        Vector256<byte> ql0 = Vector256.LoadUnsafe(ref ql);
        Vector256<byte> ql1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref ql, 32));
        Vector256<ushort> high = Vector256.LoadUnsafe(ref qh).AsUInt16();

        // Group g takes bits 2g..2g+1 of qh, moved to bits 4..5 of the byte.
        Vector256<byte> q0 = (ql0 & lowNibble) | (Avx2.ShiftLeftLogical(high, 4).AsByte() & bits45);
        Vector256<byte> q1 = (ql1 & lowNibble) | (Avx2.ShiftLeftLogical(high, 2).AsByte() & bits45);
        Vector256<byte> q2 = (Avx2.ShiftRightLogical(ql0.AsUInt16(), 4).AsByte() & lowNibble) | (high.AsByte() & bits45);
        Vector256<byte> q3 = (Avx2.ShiftRightLogical(ql1.AsUInt16(), 4).AsByte() & lowNibble) | (Avx2.ShiftRightLogical(high, 2).AsByte() & bits45);

        Vector256<int> p0 = Plane(q0, ref q8, scales, ScalePairShuffle(0));
        Vector256<int> p1 = Plane(q1, ref Unsafe.Add(ref q8, 32), scales, ScalePairShuffle(1));
        Vector256<int> p2 = Plane(q2, ref Unsafe.Add(ref q8, 64), scales, ScalePairShuffle(2));
        Vector256<int> p3 = Plane(q3, ref Unsafe.Add(ref q8, 96), scales, ScalePairShuffle(3));
        return Avx2.Add(Avx2.Add(p0, p1), Avx2.Add(p2, p3));
    }

    /// <summary>32 weights (values 0..63) × q8 with the scales of their two sub-blocks of 16.</summary>
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
