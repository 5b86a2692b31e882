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
        var values = DotIQ4_NL.Table();
        var lowNibble = Vector256.Create((byte)0x0F);
        // One float accumulator, block after block, the sub-block scales applied in integers: llama.cpp's AVX2
        // order (ggml_vec_dot_iq4_xs_q8_K), so the rounding is the same as its.
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            DotBlocks.Prefetch(ref x, 3);
            float d = HalfConversion.Lookup(ref table, ref x) * Unsafe.ReadUnaligned<float>(ref y);
            int high = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref x, IQ4_XS.OffsetScalesH));
            uint low = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, IQ4_XS.OffsetScalesL));
            ref byte qs = ref Unsafe.Add(ref x, IQ4_XS.OffsetQs);
            ref byte q8 = ref Unsafe.Add(ref y, Q8_K.OffsetQs);
            var sumi = Vector256<int>.Zero;
            for (int ib = 0; ib < 8; ib++)
            {
                int ls = (int)((low >> (4 * ib)) & 0x0F) | (((high >> (2 * ib)) & 3) << 4);
                var qx = DotIQ4_NL.Load(ref Unsafe.Add(ref qs, 16 * ib), values, lowNibble);
                var qy = Vector256.LoadUnsafe(ref Unsafe.Add(ref q8, 32 * ib)).AsSByte();
                // |x|·(y·sign x) in int16 pairs (at most 2·127·127), then scaled by ls into int32.
                var pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(qx), Avx2.Sign(qy, qx));
                sumi = DotBlocks.MulAddPairs(sumi, pairs, Vector256.Create((short)(ls - 32)));
            }

            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sumi), acc);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        return DotBlocks.HorizontalSum(acc);
    }
}
