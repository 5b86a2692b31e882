using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// TQ2_0 weights · Q8_K activations. TQ2_0 block (66 bytes, 256 weights): qs[64] | d (f16); weight
/// 128·h + 32·l + k (h = 0, 1; l = 0..3; k = 0..31) is d·(((qs[32·h + k] >> 2·l) &amp; 3) − 1).
/// Q8_K block (292 bytes): d (f32) | qs[256] (int8) | bsums[16] (int16, sums of 16 consecutive qs).
/// </summary>
[SkipLocalsInit]
public static class DotTQ2_0
{
    private const int WeightBlockBytes = 66;
    private const int ActivationBlockBytes = 292;

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int blocks = DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes);
        return DotBlocks.Avx2Fma
            ? Avx2Dot(ref MemoryMarshal.GetReference(weights), ref MemoryMarshal.GetReference(activations), blocks)
            : ScalarBlocks(weights, activations, blocks);
    }

    /// <summary>Plain reference (ggml_vec_dot_tq2_0_q8_K_generic).</summary>
    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        ScalarBlocks(weights, activations, DotBlocks.Count(weights, WeightBlockBytes, activations, ActivationBlockBytes));

    private static float ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * WeightBlockBytes, WeightBlockBytes);
            var y = activations.Slice(b * ActivationBlockBytes, ActivationBlockBytes);
            var qy = y.Slice(4, 256);
            int sumi = 0;
            for (int h = 0; h < 2; h++)
            {
                for (int l = 0; l < 4; l++)
                {
                    for (int k = 0; k < 32; k++)
                    {
                        sumi += (sbyte)qy[128 * h + 32 * l + k] * (((x[32 * h + k] >> (2 * l)) & 3) - 1);
                    }
                }
            }

            sum += sumi * (BinaryPrimitives.ReadSingleLittleEndian(y) * DotBlocks.ReadHalf(x, 64));
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static float Avx2Dot(ref byte x, ref byte y, int blocks)
    {
        ref float table = ref HalfConversion.TableStart;
        var three = Vector256.Create((byte)3);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            DotBlocks.Prefetch(ref x, 2);
            // Σ (t − 1)·y = Σ t·y − Σ y with t in 0..2 unsigned; Σ y comes from the block's bsums.
            // Eight steps of int16 pair sums stay within 8·2·2·128.
            var wide = Vector256<int>.Zero;
            var narrow = Vector256<short>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var packed = Vector256.LoadUnsafe(ref x, (nuint)(32 * h)).AsUInt16();
                ref byte qy = ref Unsafe.Add(ref y, 4 + 128 * h);
                DotBlocks.Accumulate(ref wide, ref narrow, packed.AsByte() & three, Vector256.LoadUnsafe(ref qy).AsSByte());
                DotBlocks.Accumulate(ref wide, ref narrow, Avx2.ShiftRightLogical(packed, 2).AsByte() & three, Vector256.LoadUnsafe(ref qy, 32).AsSByte());
                DotBlocks.Accumulate(ref wide, ref narrow, Avx2.ShiftRightLogical(packed, 4).AsByte() & three, Vector256.LoadUnsafe(ref qy, 64).AsSByte());
                DotBlocks.Accumulate(ref wide, ref narrow, Avx2.ShiftRightLogical(packed, 6).AsByte() & three, Vector256.LoadUnsafe(ref qy, 96).AsSByte());
            }

            var sums = DotBlocks.Widen(wide, narrow);
            var ySums = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref y, 260).AsInt16(), Vector256.Create((short)1));
            float d = Unsafe.ReadUnaligned<float>(ref y) * HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 64));
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sums - ySums), acc);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        return DotBlocks.HorizontalSum(acc);
    }
}
