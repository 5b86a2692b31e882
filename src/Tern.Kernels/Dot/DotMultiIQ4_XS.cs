using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// IQ4_XS weight rows · Q8_K activation rows (<see cref="DotRows"/>; layouts in <see cref="DotIQ4_XS"/>): each
/// sub-block's nibbles are looked up in the table once for <see cref="Tokens"/> tokens. Per token it keeps
/// DotIQ4_XS's integer sums and float accumulator, so every result is bit for bit <see cref="DotIQ4_XS.Dot"/> of the same pair.
/// </summary>
[SkipLocalsInit]
public static unsafe class DotMultiIQ4_XS
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    private const int WeightBlockBytes = IQ4_XS.BlockBytes;
    private const int ActivationBlockBytes = Q8_K.BlockBytes;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Dispatch(weights, rows, activations, results, WeightBlockBytes, ActivationBlockBytes, &Avx2Dot4, &DotIQ4_XS.Dot, &ScalarBlocks);

    /// <summary>Plain twin: each block unpacked once, then per token the sums of <see cref="DotIQ4_XS.Scalar"/>.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Scalar(weights, rows, activations, results, WeightBlockBytes, ActivationBlockBytes, &ScalarBlocks);

    private static void ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, Span<float> results, int blocks)
    {
        var values = IQ4_NL.Values;
        int rowBytes = blocks * ActivationBlockBytes;
        Span<int> q = stackalloc int[32];
        results.Clear();
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * WeightBlockBytes, WeightBlockBytes);
            float dx = DotBlocks.ReadHalf(x, IQ4_XS.OffsetD);
            for (int ib = 0; ib < 8; ib++)
            {
                NibbleTable.Levels(x.Slice(IQ4_XS.OffsetQs + 16 * ib, 16), values, q);

                int scale = IQ4_XS.Scale(x, ib) - 32;
                for (int t = 0; t < results.Length; t++)
                {
                    var y = activations.Slice(t * rowBytes + b * ActivationBlockBytes, ActivationBlockBytes);
                    var q8 = y.Slice(Q8_K.OffsetQs + 32 * ib, 32);
                    int sumi = 0;
                    for (int j = 0; j < 32; j++)
                    {
                        sumi += (sbyte)q8[j] * q[j];
                    }

                    results[t] += dx * BinaryPrimitives.ReadSingleLittleEndian(y) * scale * sumi;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Avx2Dot4(ref byte x, ref byte y, nint stride, int blocks, ref float results)
    {
        ref float table = ref HalfConversion.TableStart;
        var values = NibbleTable.Lanes(IQ4_NL.Values);
        var lowNibble = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int b = 0; b < blocks; b++)
        {
            ref byte y1 = ref Unsafe.Add(ref y, stride);
            ref byte y2 = ref Unsafe.Add(ref y, 2 * stride);
            ref byte y3 = ref Unsafe.Add(ref y, 3 * stride);
            var scales = DotIQ4_XS.Scales(ref x);
            Vector256<int> low0 = default, low1 = default, low2 = default, low3 = default;
            Vector256<int> high0 = default, high1 = default, high2 = default, high3 = default;
            for (int p = 0; p < 4; p++)
            {
                var (low, high) = DotIQ4_XS.LoadPair(ref Unsafe.Add(ref x, IQ4_XS.OffsetQs + 32 * p), values, lowNibble);
                var scale = Avx2.Shuffle(scales, DotIQ4_XS.PairControl(p)).AsInt16();
                var lowMagnitude = Avx2.Abs(low);
                var highMagnitude = Avx2.Abs(high);
                int offset = Q8_K.OffsetQs + 64 * p;
                Step(ref Unsafe.Add(ref y, offset), low, high, lowMagnitude, highMagnitude, scale, ref low0, ref high0);
                Step(ref Unsafe.Add(ref y1, offset), low, high, lowMagnitude, highMagnitude, scale, ref low1, ref high1);
                Step(ref Unsafe.Add(ref y2, offset), low, high, lowMagnitude, highMagnitude, scale, ref low2, ref high2);
                Step(ref Unsafe.Add(ref y3, offset), low, high, lowMagnitude, highMagnitude, scale, ref low3, ref high3);
            }

            float dx = HalfConversion.Lookup(ref table, ref x);
            acc0 = Finish(ref y, dx, DotIQ4_XS.Combine(low0, high0), acc0);
            acc1 = Finish(ref y1, dx, DotIQ4_XS.Combine(low1, high1), acc1);
            acc2 = Finish(ref y2, dx, DotIQ4_XS.Combine(low2, high2), acc2);
            acc3 = Finish(ref y3, dx, DotIQ4_XS.Combine(low3, high3), acc3);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        DotBlocks.StoreSums(ref results, acc0, acc1, acc2, acc3);
    }

    /// <summary>One token's activations of two sub-blocks against their weights, scaled by the sub-block multipliers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(ref byte q8, Vector256<sbyte> low, Vector256<sbyte> high, Vector256<byte> lowMagnitude, Vector256<byte> highMagnitude,
        Vector256<short> scale, ref Vector256<int> sumLow, ref Vector256<int> sumHigh)
    {
        var (yLow, yHigh) = DotIQ4_XS.LoadActivationPair(ref q8);
        sumLow = DotBlocks.MulAddPairs(sumLow, Avx2.MultiplyAddAdjacent(lowMagnitude, Avx2.Sign(yLow, low)), scale);
        sumHigh = DotBlocks.MulAddPairs(sumHigh, Avx2.MultiplyAddAdjacent(highMagnitude, Avx2.Sign(yHigh, high)), scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish(ref byte y, float dx, Vector256<int> sums, Vector256<float> acc) =>
        Fma.MultiplyAdd(Vector256.Create(dx * Unsafe.ReadUnaligned<float>(ref y)), Avx.ConvertToVector256Single(sums), acc);
}
