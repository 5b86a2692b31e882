using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// MXFP4 weights · Q8_0 activations. MXFP4 block (17 bytes): e (E8M0) | qs[16], weight j = 2^(e−128)·v[qs[j] &amp; 15],
/// weight j+16 = 2^(e−128)·v[qs[j] >> 4], v = <see cref="MXFP4.Values"/> (E2M1 doubled). Q8_0 block (34 bytes):
/// d (f16) | qs[32] (int8).
/// </summary>
[SkipLocalsInit]
public static class DotMXFP4
{
    private const int WeightBlockBytes = MXFP4.BlockBytes;
    private const int ActivationBlockBytes = 34;

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int blocks = DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes);
        return DotBlocks.Avx2Fma
            ? Avx2Dot(weights, activations, blocks)
            : ScalarBlocks(weights, activations, blocks);
    }

    /// <summary>Plain reference: an integer sum per block, then the two scales (ggml_vec_dot_mxfp4_q8_0_generic).</summary>
    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        ScalarBlocks(weights, activations, DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes));

    private static float ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            sum += ScalarBlock(weights.Slice(b * WeightBlockBytes, WeightBlockBytes), activations.Slice(b * ActivationBlockBytes, ActivationBlockBytes));
        }

        return sum;
    }

    /// <summary>One block's d·Σ v·q, the scale multiplied as ggml does: activation half × weight half scale.</summary>
    internal static float ScalarBlock(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y)
    {
        var values = MXFP4.Values;
        float d = DotBlocks.ReadHalf(y, 0) * MXFP4.HalfScale(x[MXFP4.OffsetE]);
        int sumi1 = 0, sumi2 = 0;
        for (int j = 0; j < 16; j++)
        {
            byte q = x[MXFP4.OffsetQs + j];
            sumi1 += (sbyte)y[2 + j] * values[q & 0x0F];
            sumi2 += (sbyte)y[2 + j + 16] * values[q >> 4];
        }

        return d * (sumi1 + sumi2);
    }

    /// <summary>
    /// ggml_vec_dot_mxfp4_q8_0's AVX2 order: even blocks into one accumulator, odd blocks into another, their sum
    /// reduced as hsum_float_8, and a last odd block added by the scalar step.
    /// </summary>
    private static float Avx2Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int blocks)
    {
        int pairs = blocks / 2;
        float sum = Avx2Pairs(ref MemoryMarshal.GetReference(weights), ref MemoryMarshal.GetReference(activations), pairs);
        if (2 * pairs < blocks)
        {
            sum += ScalarBlock(weights.Slice(2 * pairs * WeightBlockBytes), activations.Slice(2 * pairs * ActivationBlockBytes));
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static float Avx2Pairs(ref byte x, ref byte y, int pairs)
    {
        ref float table = ref HalfConversion.TableStart;
        var values = NibbleTable.Lanes(MXFP4.Values);
        var lowNibble = Vector256.Create((byte)0x0F);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        for (int p = 0; p < pairs; p++)
        {
            DotBlocks.Prefetch(ref x, 1);
            acc0 = Block(ref table, ref x, ref y, values, lowNibble, acc0);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
            DotBlocks.Prefetch(ref x, 1);
            acc1 = Block(ref table, ref x, ref y, values, lowNibble, acc1);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        return DotBlocks.HorizontalSum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block(ref float table, ref byte x, ref byte y, Vector256<sbyte> values, Vector256<byte> lowNibble, Vector256<float> acc)
    {
        float d = HalfConversion.Lookup(ref table, ref y) * MXFP4.HalfScale(x);
        var qx = NibbleTable.Lookup(ref Unsafe.Add(ref x, MXFP4.OffsetQs), values, lowNibble);
        var qy = Vector256.LoadUnsafe(ref y, 2).AsSByte();
        return Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(DotBlocks.MulSumSigned(qx, qy)), acc);
    }
}
