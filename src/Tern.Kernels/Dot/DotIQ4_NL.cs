using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// IQ4_NL weights · Q8_0 activations. IQ4_NL block (18 bytes): d (f16) | qs[16], weight j = d·Values[qs[j] &amp; 15],
/// weight j+16 = d·Values[qs[j] >> 4] (<see cref="IQ4_NL.Values"/>). Q8_0 block (34 bytes): d (f16) | qs[32] (int8).
/// </summary>
[SkipLocalsInit]
public static class DotIQ4_NL
{
    private const int WeightBlockBytes = IQ4_NL.BlockBytes;
    private const int ActivationBlockBytes = Q8_0.BlockBytes;

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int blocks = DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes);
        return DotBlocks.Avx2Fma
            ? Avx2Dot(ref MemoryMarshal.GetReference(weights), ref MemoryMarshal.GetReference(activations), blocks)
            : ScalarBlocks(weights, activations, 0, blocks, 0);
    }

    /// <summary>Plain reference: an integer sum per block, then the two scales (ggml_vec_dot_iq4_nl_q8_0_generic).</summary>
    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        ScalarBlocks(weights, activations, 0, DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes), 0);

    /// <summary><paramref name="sum"/> plus blocks <paramref name="first"/>..<paramref name="end"/>, block after block.</summary>
    internal static float ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int first, int end, float sum)
    {
        var values = IQ4_NL.Values;
        for (int b = first; b < end; b++)
        {
            var x = weights.Slice(b * WeightBlockBytes, WeightBlockBytes);
            var y = activations.Slice(b * ActivationBlockBytes, ActivationBlockBytes);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi += values[x[2 + j] & 0x0F] * (sbyte)y[2 + j] + values[x[2 + j] >> 4] * (sbyte)y[2 + j + 16];
            }

            sum += sumi * (DotBlocks.ReadHalf(x, 0) * DotBlocks.ReadHalf(y, 0));
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static float Avx2Dot(ref byte x, ref byte y, int blocks)
    {
        ref float table = ref HalfConversion.TableStart;
        var values = NibbleTable.Lanes(IQ4_NL.Values);
        var lowNibble = Vector256.Create((byte)0x0F);
        // Even blocks into one accumulator, odd into another, an odd last block added as the scalar twin does:
        // llama.cpp's AVX2 order (ggml_vec_dot_iq4_nl_q8_0), so the rounding is the same as its.
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        int b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            DotBlocks.Prefetch(ref x, 1);
            acc0 = Block(ref table, ref x, ref y, values, lowNibble, acc0);
            DotBlocks.Prefetch(ref Unsafe.Add(ref x, WeightBlockBytes), 1);
            acc1 = Block(ref table, ref Unsafe.Add(ref x, WeightBlockBytes), ref Unsafe.Add(ref y, ActivationBlockBytes), values, lowNibble, acc1);
            x = ref Unsafe.Add(ref x, 2 * WeightBlockBytes);
            y = ref Unsafe.Add(ref y, 2 * ActivationBlockBytes);
        }

        float sum = DotBlocks.HorizontalSum(acc0 + acc1);
        if (b < blocks)
        {
            sum = ScalarBlocks(MemoryMarshal.CreateReadOnlySpan(ref x, WeightBlockBytes), MemoryMarshal.CreateReadOnlySpan(ref y, ActivationBlockBytes), 0, 1, sum);
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block(ref float table, ref byte x, ref byte y, Vector256<sbyte> values, Vector256<byte> lowNibble, Vector256<float> acc)
    {
        float d = HalfConversion.Lookup(ref table, ref x) * HalfConversion.Lookup(ref table, ref y);
        var qx = NibbleTable.Lookup(ref Unsafe.Add(ref x, IQ4_NL.OffsetQs), values, lowNibble);
        var qy = Vector256.LoadUnsafe(ref y, 2).AsSByte();
        return Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(DotBlocks.MulSumSigned(qx, qy)), acc);
    }
}
