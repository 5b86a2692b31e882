using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// Q4_0 weights · Q8_0 activations. Q4_0 block (18 bytes): d (f16) | qs[16], weight j = d·((qs[j] &amp; 15) − 8),
/// weight j+16 = d·((qs[j] >> 4) − 8). Q8_0 block (34 bytes): d (f16) | qs[32] (int8).
/// </summary>
[SkipLocalsInit]
public static class DotQ4_0
{
    private const int WeightBlockBytes = 18;
    private const int ActivationBlockBytes = 34;

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int blocks = DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes);
        return DotBlocks.Avx2Fma
            ? Avx2Dot(ref MemoryMarshal.GetReference(weights), ref MemoryMarshal.GetReference(activations), blocks)
            : ScalarBlocks(weights, activations, blocks);
    }

    /// <summary>Plain reference: an integer sum per block, then the two scales (ggml_vec_dot_q4_0_q8_0_generic).</summary>
    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        ScalarBlocks(weights, activations, DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes));

    private static float ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * WeightBlockBytes, WeightBlockBytes);
            var y = activations.Slice(b * ActivationBlockBytes, ActivationBlockBytes);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                int x0 = (x[2 + j] & 0x0F) - 8;
                int x1 = (x[2 + j] >> 4) - 8;
                sumi += x0 * (sbyte)y[2 + j] + x1 * (sbyte)y[2 + j + 16];
            }

            sum += sumi * (DotBlocks.ReadHalf(x, 0) * DotBlocks.ReadHalf(y, 0));
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static float Avx2Dot(ref byte x, ref byte y, int blocks)
    {
        ref float table = ref HalfConversion.TableStart;
        var lowNibble = Vector256.Create((byte)0x0F);
        var eight = Vector256.Create((byte)8);
        // One accumulator, block after block: llama.cpp's AVX2 order, so the rounding is the same as its.
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            DotBlocks.Prefetch(ref x, 1);
            acc = Block(ref table, ref x, ref y, lowNibble, eight, acc);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        return DotBlocks.HorizontalSum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block(ref float table, ref byte x, ref byte y, Vector256<byte> lowNibble, Vector256<byte> eight, Vector256<float> acc)
    {
        float d = HalfConversion.Lookup(ref table, ref x) * HalfConversion.Lookup(ref table, ref y);
        var packed = Vector128.LoadUnsafe(ref x, 2);
        // Low nibbles are weights 0..15, high nibbles 16..31: one register in element order.
        var nibbles = Vector256.Create(packed, Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte()) & lowNibble;
        var qy = Vector256.LoadUnsafe(ref y, 2).AsSByte();
        return Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(DotBlocks.MulSumOffset(nibbles, eight, qy)), acc);
    }
}
