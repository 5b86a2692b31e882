using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// IQ4_XS weights · Q8_K activations. IQ4_XS block (136 bytes, 256 weights): d (f16) | scales_h (u16) |
/// scales_l[4] | qs[128]; sub-block ib of 32 has weights d·(ls − 32)·Values[q] with q packed as IQ4_NL's
/// (<see cref="IQ4_XS.Scale"/>). Q8_K block (292 bytes): d (f32) | qs[256] (int8) | bsums[16] (unused here).
/// </summary>
[SkipLocalsInit]
public static class DotIQ4_XS
{
    private const int WeightBlockBytes = IQ4_XS.BlockBytes;
    private const int ActivationBlockBytes = Q8_K.BlockBytes;

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int blocks = DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes);
        return DotBlocks.Avx2Fma
            ? Avx2Dot(ref MemoryMarshal.GetReference(weights), ref MemoryMarshal.GetReference(activations), blocks)
            : ScalarBlocks(weights, activations, blocks);
    }

    /// <summary>Plain reference: a float sum per sub-block of 32 (ggml_vec_dot_iq4_xs_q8_K_generic).</summary>
    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        ScalarBlocks(weights, activations, DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes));

    private static float ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int blocks)
    {
        var values = IQ4_NL.Values;
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * WeightBlockBytes, WeightBlockBytes);
            var y = activations.Slice(b * ActivationBlockBytes, ActivationBlockBytes);
            float d = DotBlocks.ReadHalf(x, IQ4_XS.OffsetD) * BinaryPrimitives.ReadSingleLittleEndian(y);
            for (int ib = 0; ib < 8; ib++)
            {
                var qs = x.Slice(IQ4_XS.OffsetQs + 16 * ib, 16);
                var q8 = y.Slice(Q8_K.OffsetQs + 32 * ib, 32);
                int sumi = 0;
                for (int j = 0; j < 16; j++)
                {
                    sumi += (sbyte)q8[j] * values[qs[j] & 0x0F] + (sbyte)q8[j + 16] * values[qs[j] >> 4];
                }

                sum += d * (IQ4_XS.Scale(x, ib) - 32) * sumi;
            }
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static float Avx2Dot(ref byte x, ref byte y, int blocks)
    {
        ref float table = ref HalfConversion.TableStart;
        var values = NibbleTable.Lanes(IQ4_NL.Values);
        var lowNibble = Vector256.Create((byte)0x0F);
        // One float accumulator, block after block, the sub-block scales applied in integers, and each lane's
        // integer sum the same as llama.cpp's (ggml_vec_dot_iq4_xs_q8_K): the rounding is the same as its.
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            DotBlocks.Prefetch(ref x, 3);
            float d = HalfConversion.Lookup(ref table, ref x) * Unsafe.ReadUnaligned<float>(ref y);
            var scales = Scales(ref x);
            ref byte qs = ref Unsafe.Add(ref x, IQ4_XS.OffsetQs);
            ref byte q8 = ref Unsafe.Add(ref y, Q8_K.OffsetQs);
            Vector256<int> sumLow = default, sumHigh = default;
            for (int p = 0; p < 4; p++)
            {
                var (low, high) = LoadPair(ref Unsafe.Add(ref qs, 32 * p), values, lowNibble);
                var (yLow, yHigh) = LoadActivationPair(ref Unsafe.Add(ref q8, 64 * p));
                var scale = Avx2.Shuffle(scales, PairControl(p)).AsInt16();
                sumLow = DotBlocks.MulAddPairs(sumLow, Avx2.MultiplyAddAdjacent(Avx2.Abs(low), Avx2.Sign(yLow, low)), scale);
                sumHigh = DotBlocks.MulAddPairs(sumHigh, Avx2.MultiplyAddAdjacent(Avx2.Abs(high), Avx2.Sign(yHigh, high)), scale);
            }

            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(Combine(sumLow, sumHigh)), acc);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        return DotBlocks.HorizontalSum(acc);
    }

    /// <summary>
    /// The eight sub-block multipliers ls − 32 of the block at <paramref name="x"/> as int16, the same eight in both
    /// 128-bit lanes (for <see cref="PairControl"/>). Requires AVX2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Scales(ref byte x)
    {
        // Low 4 bits: the nibbles of scales_l in order (sub-block 2k low nibble of byte k, 2k+1 high).
        var packed = Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, IQ4_XS.OffsetScalesL))).AsByte();
        var nibble = Vector128.Create((byte)0x0F);
        var low = Sse2.UnpackLow(packed & nibble, Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & nibble);
        // High 2 bits: scales_h in every lane, lane i shifted so bits 2i, 2i+1 land at the top, then brought down.
        var high = Vector128.Create(Unsafe.ReadUnaligned<short>(ref Unsafe.Add(ref x, IQ4_XS.OffsetScalesH)));
        high = Vector128.ShiftRightLogical(high * Vector128.Create((short)(1 << 14), 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1), 14);
        var scales = (Sse41.ConvertToVector128Int16(low) | Vector128.ShiftLeft(high, 4)) - Vector128.Create((short)32);
        return Vector256.Create(scales, scales).AsByte();
    }

    /// <summary>Shuffle control giving sub-block 2p's multiplier in the low lane and 2p+1's in the high lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> PairControl(int p) =>
        Vector256.Create(Vector128.Create((ushort)(0x0100 + 0x0404 * p)), Vector128.Create((ushort)(0x0302 + 0x0404 * p))).AsByte();

    /// <summary>
    /// Sub-blocks 2p and 2p+1 (the 32 packed bytes at <paramref name="qs"/>) as signed weights: low = elements
    /// 0..15 of 2p | 0..15 of 2p+1, high = elements 16..31 of each, by lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector256<sbyte> Low, Vector256<sbyte> High) LoadPair(ref byte qs, Vector256<sbyte> values, Vector256<byte> lowNibble)
    {
        var packed = Vector256.LoadUnsafe(ref qs);
        var low = Avx2.Shuffle(values, (packed & lowNibble).AsSByte());
        var high = Avx2.Shuffle(values, (Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & lowNibble).AsSByte());
        return (low, high);
    }

    /// <summary>The activations of sub-blocks 2p and 2p+1 (64 bytes at <paramref name="q8"/>) laid out as <see cref="LoadPair"/>'s weights.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector256<sbyte> Low, Vector256<sbyte> High) LoadActivationPair(ref byte q8)
    {
        ref sbyte y = ref Unsafe.As<byte, sbyte>(ref q8);
        return (Vector256.Create(Vector128.LoadUnsafe(ref y), Vector128.LoadUnsafe(ref y, 32)),
            Vector256.Create(Vector128.LoadUnsafe(ref y, 16), Vector128.LoadUnsafe(ref y, 48)));
    }

    /// <summary>
    /// The per-lane sums llama.cpp's kernel holds: lanes 0..3 the low-half sums (elements 0..15 of every sub-block),
    /// lanes 4..7 the high-half sums; both 128-bit lanes of each accumulator (even and odd sub-blocks) added.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> Combine(Vector256<int> sumLow, Vector256<int> sumHigh) =>
        Vector256.Create(sumLow.GetLower() + sumLow.GetUpper(), sumHigh.GetLower() + sumHigh.GetUpper());
}
