using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// IQ4_NL weight rows · Q8_0 activation rows (<see cref="DotRows"/>; layouts in <see cref="DotIQ4_NL"/>): each
/// block's nibbles are looked up in the table once for <see cref="Tokens"/> tokens. Per token it keeps DotIQ4_NL's
/// even and odd accumulators and its scalar last block, so every result is bit for bit <see cref="DotIQ4_NL.Dot"/>
/// of the same pair.
/// </summary>
[SkipLocalsInit]
public static unsafe class DotMultiIQ4_NL
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    private const int WeightBlockBytes = IQ4_NL.BlockBytes;
    private const int ActivationBlockBytes = Q8_0.BlockBytes;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Dispatch(weights, rows, activations, results, WeightBlockBytes, ActivationBlockBytes, &Avx2Dot4, &DotIQ4_NL.Dot, &ScalarBlocks);

    /// <summary>Plain twin: each block unpacked once, then per token the sums of <see cref="DotIQ4_NL.Scalar"/>.</summary>
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
            NibbleTable.Levels(x.Slice(IQ4_NL.OffsetQs, 16), values, q);

            float dx = DotBlocks.ReadHalf(x, IQ4_NL.OffsetD);
            for (int t = 0; t < results.Length; t++)
            {
                var y = activations.Slice(t * rowBytes + b * ActivationBlockBytes, ActivationBlockBytes);
                int sumi = 0;
                for (int j = 0; j < 32; j++)
                {
                    sumi += q[j] * (sbyte)y[Q8_0.OffsetQs + j];
                }

                results[t] += sumi * (dx * DotBlocks.ReadHalf(y, Q8_0.OffsetD));
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Avx2Dot4(ref byte x, ref byte y, nint stride, int blocks, ref float results)
    {
        ref float table = ref HalfConversion.TableStart;
        var values = NibbleTable.Lanes(IQ4_NL.Values);
        var lowNibble = Vector256.Create((byte)0x0F);
        Vector256<float> even0 = default, even1 = default, even2 = default, even3 = default;
        Vector256<float> odd0 = default, odd1 = default, odd2 = default, odd3 = default;
        int b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            Block(ref table, ref x, ref y, stride, values, lowNibble, ref even0, ref even1, ref even2, ref even3);
            Block(ref table, ref Unsafe.Add(ref x, WeightBlockBytes), ref Unsafe.Add(ref y, ActivationBlockBytes), stride, values, lowNibble,
                ref odd0, ref odd1, ref odd2, ref odd3);
            x = ref Unsafe.Add(ref x, 2 * WeightBlockBytes);
            y = ref Unsafe.Add(ref y, 2 * ActivationBlockBytes);
        }

        bool last = b < blocks;
        results = Finish(even0 + odd0, last, ref x, ref y);
        Unsafe.Add(ref results, 1) = Finish(even1 + odd1, last, ref x, ref Unsafe.Add(ref y, stride));
        Unsafe.Add(ref results, 2) = Finish(even2 + odd2, last, ref x, ref Unsafe.Add(ref y, 2 * stride));
        Unsafe.Add(ref results, 3) = Finish(even3 + odd3, last, ref x, ref Unsafe.Add(ref y, 3 * stride));
    }

    /// <summary>One block's weights against the same block of four tokens' activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block(ref float table, ref byte x, ref byte y, nint stride, Vector256<sbyte> values, Vector256<byte> lowNibble,
        ref Vector256<float> acc0, ref Vector256<float> acc1, ref Vector256<float> acc2, ref Vector256<float> acc3)
    {
        float dx = HalfConversion.Lookup(ref table, ref x);
        var q = NibbleTable.Lookup(ref Unsafe.Add(ref x, IQ4_NL.OffsetQs), values, lowNibble);
        var magnitude = Avx2.Abs(q);
        acc0 = Token(ref table, dx, magnitude, q, ref y, acc0);
        acc1 = Token(ref table, dx, magnitude, q, ref Unsafe.Add(ref y, stride), acc1);
        acc2 = Token(ref table, dx, magnitude, q, ref Unsafe.Add(ref y, 2 * stride), acc2);
        acc3 = Token(ref table, dx, magnitude, q, ref Unsafe.Add(ref y, 3 * stride), acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Token(ref float table, float dx, Vector256<byte> magnitude, Vector256<sbyte> q, ref byte y, Vector256<float> acc)
    {
        var sums = DotBlocks.MulSum(magnitude, Avx2.Sign(Vector256.LoadUnsafe(ref y, Q8_0.OffsetQs).AsSByte(), q));
        return Fma.MultiplyAdd(Vector256.Create(dx * HalfConversion.Lookup(ref table, ref y)), Avx.ConvertToVector256Single(sums), acc);
    }

    /// <summary>The lanes summed, then an odd last block added as DotIQ4_NL's scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(Vector256<float> acc, bool last, ref byte x, ref byte y)
    {
        float sum = DotBlocks.HorizontalSum(acc);
        return last
            ? DotIQ4_NL.ScalarBlocks(MemoryMarshal.CreateReadOnlySpan(ref x, WeightBlockBytes), MemoryMarshal.CreateReadOnlySpan(ref y, ActivationBlockBytes), 0, 1, sum)
            : sum;
    }
}
