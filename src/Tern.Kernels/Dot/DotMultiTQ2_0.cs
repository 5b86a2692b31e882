using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>
/// TQ2_0 weight rows · Q8_K activation rows (<see cref="DotRows"/>; layouts in <see cref="DotTQ2_0"/>): each block's
/// 2-bit weights are unpacked once for <see cref="Tokens"/> tokens. Per token it keeps DotTQ2_0's accumulator and per-lane
/// integer sums, so every result is bit for bit <see cref="DotTQ2_0.Dot"/> of the same pair.
/// </summary>
[SkipLocalsInit]
public static unsafe class DotMultiTQ2_0
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    private const int WeightBlockBytes = 66;
    private const int ActivationBlockBytes = 292;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Dispatch(weights, rows, activations, results, WeightBlockBytes, ActivationBlockBytes, &Avx2Dot4, &DotTQ2_0.Dot, &ScalarBlocks);

    /// <summary>Plain twin: each block unpacked once, then per token the sums of <see cref="DotTQ2_0.Scalar"/>.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Scalar(weights, rows, activations, results, WeightBlockBytes, ActivationBlockBytes, &ScalarBlocks);

    private static void ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, Span<float> results, int blocks)
    {
        int rowBytes = blocks * ActivationBlockBytes;
        Span<int> q = stackalloc int[256];
        results.Clear();
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * WeightBlockBytes, WeightBlockBytes);
            for (int h = 0; h < 2; h++)
            {
                for (int l = 0; l < 4; l++)
                {
                    for (int k = 0; k < 32; k++)
                    {
                        q[128 * h + 32 * l + k] = ((x[32 * h + k] >> (2 * l)) & 3) - 1;
                    }
                }
            }

            float dx = DotBlocks.ReadHalf(x, 64);
            for (int t = 0; t < results.Length; t++)
            {
                var y = activations.Slice(t * rowBytes + b * ActivationBlockBytes, ActivationBlockBytes);
                var qy = y.Slice(4, 256);
                int sumi = 0;
                for (int k = 0; k < 256; k++)
                {
                    sumi += (sbyte)qy[k] * q[k];
                }

                results[t] += sumi * (BinaryPrimitives.ReadSingleLittleEndian(y) * dx);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Avx2Dot4(ref byte x, ref byte y, nint stride, int blocks, ref float results)
    {
        ref float table = ref HalfConversion.TableStart;
        var three = Vector256.Create((byte)3);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int b = 0; b < blocks; b++)
        {
            ref byte y1 = ref Unsafe.Add(ref y, stride);
            ref byte y2 = ref Unsafe.Add(ref y, 2 * stride);
            ref byte y3 = ref Unsafe.Add(ref y, 3 * stride);

            // Σ (t − 1)·y = Σ t·y − Σ y with t in 0..2 unsigned, as DotTQ2_0 (int16 pair sums stay within 8·2·2·128).
            Vector256<int> wide0 = default, wide1 = default, wide2 = default, wide3 = default;
            Vector256<short> narrow0 = default, narrow1 = default, narrow2 = default, narrow3 = default;
            for (int h = 0; h < 2; h++)
            {
                var packed = Vector256.LoadUnsafe(ref x, (nuint)(32 * h)).AsUInt16();
                nuint offset = (nuint)(4 + 128 * h);
                Step(packed.AsByte() & three, ref y, ref y1, ref y2, ref y3, offset, ref wide0, ref wide1, ref wide2, ref wide3, ref narrow0, ref narrow1, ref narrow2, ref narrow3);
                Step(Avx2.ShiftRightLogical(packed, 2).AsByte() & three, ref y, ref y1, ref y2, ref y3, offset + 32,
                    ref wide0, ref wide1, ref wide2, ref wide3, ref narrow0, ref narrow1, ref narrow2, ref narrow3);
                Step(Avx2.ShiftRightLogical(packed, 4).AsByte() & three, ref y, ref y1, ref y2, ref y3, offset + 64,
                    ref wide0, ref wide1, ref wide2, ref wide3, ref narrow0, ref narrow1, ref narrow2, ref narrow3);
                Step(Avx2.ShiftRightLogical(packed, 6).AsByte() & three, ref y, ref y1, ref y2, ref y3, offset + 96,
                    ref wide0, ref wide1, ref wide2, ref wide3, ref narrow0, ref narrow1, ref narrow2, ref narrow3);
            }

            float dx = HalfConversion.Lookup(ref table, ref Unsafe.Add(ref x, 64));
            acc0 = Finish(ref y, dx, DotBlocks.Widen(wide0, narrow0), acc0);
            acc1 = Finish(ref y1, dx, DotBlocks.Widen(wide1, narrow1), acc1);
            acc2 = Finish(ref y2, dx, DotBlocks.Widen(wide2, narrow2), acc2);
            acc3 = Finish(ref y3, dx, DotBlocks.Widen(wide3, narrow3), acc3);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        DotBlocks.StoreSums(ref results, acc0, acc1, acc2, acc3);
    }

    /// <summary>32 weights (0..2) against 32 activations of each token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(Vector256<byte> t, ref byte y0, ref byte y1, ref byte y2, ref byte y3, nuint offset,
        ref Vector256<int> wide0, ref Vector256<int> wide1, ref Vector256<int> wide2, ref Vector256<int> wide3,
        ref Vector256<short> narrow0, ref Vector256<short> narrow1, ref Vector256<short> narrow2, ref Vector256<short> narrow3)
    {
        DotBlocks.Accumulate(ref wide0, ref narrow0, t, Vector256.LoadUnsafe(ref y0, offset).AsSByte());
        DotBlocks.Accumulate(ref wide1, ref narrow1, t, Vector256.LoadUnsafe(ref y1, offset).AsSByte());
        DotBlocks.Accumulate(ref wide2, ref narrow2, t, Vector256.LoadUnsafe(ref y2, offset).AsSByte());
        DotBlocks.Accumulate(ref wide3, ref narrow3, t, Vector256.LoadUnsafe(ref y3, offset).AsSByte());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish(ref byte y, float dx, Vector256<int> sums, Vector256<float> acc)
    {
        var ySums = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref y, 260).AsInt16(), Vector256.Create((short)1));
        float d = Unsafe.ReadUnaligned<float>(ref y) * dx;
        return Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sums - ySums), acc);
    }
}
