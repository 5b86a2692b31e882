using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Dot;

/// <summary>
/// MXFP4 weight rows · Q8_0 activation rows (<see cref="DotRows"/>; layouts in <see cref="DotMXFP4"/>): each block's
/// codes are looked up once for <see cref="Tokens"/> tokens. Per token it keeps DotMXFP4's two accumulators (even and
/// odd blocks) and its scalar last odd block, so every result is bit for bit <see cref="DotMXFP4.Dot"/> of the same pair.
/// </summary>
[SkipLocalsInit]
public static unsafe class DotMultiMXFP4
{
    /// <summary>Activation rows per pass of the SIMD kernel.</summary>
    public const int Tokens = DotMultiBlocks.Tokens;

    private const int WeightBlockBytes = MXFP4.BlockBytes;
    private const int ActivationBlockBytes = 34;

    public static void Dot(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Dispatch(weights, rows, activations, results, WeightBlockBytes, ActivationBlockBytes, &Avx2Dot4, &DotMXFP4.Dot, &ScalarBlocks);

    /// <summary>Plain twin: each block's codes decoded once, then per token the sums of <see cref="DotMXFP4.Scalar"/>.</summary>
    public static void Scalar(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results) =>
        DotMultiBlocks.Scalar(weights, rows, activations, results, WeightBlockBytes, ActivationBlockBytes, &ScalarBlocks);

    private static void ScalarBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, Span<float> results, int blocks)
    {
        int rowBytes = blocks * ActivationBlockBytes;
        var values = MXFP4.Values;
        Span<int> q = stackalloc int[32];
        results.Clear();
        for (int b = 0; b < blocks; b++)
        {
            var x = weights.Slice(b * WeightBlockBytes, WeightBlockBytes);
            NibbleTable.Levels(x.Slice(MXFP4.OffsetQs, 16), values, q);

            float hx = MXFP4.HalfScale(x[MXFP4.OffsetE]);
            for (int t = 0; t < results.Length; t++)
            {
                var y = activations.Slice(t * rowBytes + b * ActivationBlockBytes, ActivationBlockBytes);
                int sumi = 0;
                for (int j = 0; j < 32; j++)
                {
                    sumi += (sbyte)y[2 + j] * q[j];
                }

                results[t] += DotBlocks.ReadHalf(y, 0) * hx * sumi;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Avx2Dot4(ref byte x, ref byte y, nint stride, int blocks, ref float results)
    {
        int pairs = blocks / 2;
        Pairs4(ref x, ref y, stride, pairs, ref results);
        if (2 * pairs < blocks)
        {
            // The last odd block, added as DotMXFP4 adds it: by the scalar step, after the lanes are summed.
            var last = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref x, 2 * pairs * WeightBlockBytes), WeightBlockBytes);
            for (int t = 0; t < Tokens; t++)
            {
                ref byte yt = ref Unsafe.Add(ref y, t * stride + 2 * pairs * ActivationBlockBytes);
                Unsafe.Add(ref results, t) += DotMXFP4.ScalarBlock(last, MemoryMarshal.CreateReadOnlySpan(ref yt, ActivationBlockBytes));
            }
        }
    }

    /// <summary>results[t] = the lanes of (even-block accumulator + odd-block accumulator) of token t, summed.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static void Pairs4(ref byte x, ref byte y, nint stride, int pairs, ref float results)
    {
        ref float table = ref HalfConversion.TableStart;
        var values = NibbleTable.Lanes(MXFP4.Values);
        var lowNibble = Vector256.Create((byte)0x0F);
        Vector128<float> scratch = default;
        ref float scales = ref Unsafe.As<Vector128<float>, float>(ref scratch);
        Vector256<float> even0 = default, even1 = default, even2 = default, even3 = default;
        Vector256<float> odd0 = default, odd1 = default, odd2 = default, odd3 = default;
        for (int p = 0; p < pairs; p++)
        {
            Block(ref table, ref scales, ref x, ref y, stride, values, lowNibble, ref even0, ref even1, ref even2, ref even3);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
            Block(ref table, ref scales, ref x, ref y, stride, values, lowNibble, ref odd0, ref odd1, ref odd2, ref odd3);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        results = DotBlocks.HorizontalSum(even0 + odd0);
        Unsafe.Add(ref results, 1) = DotBlocks.HorizontalSum(even1 + odd1);
        Unsafe.Add(ref results, 2) = DotBlocks.HorizontalSum(even2 + odd2);
        Unsafe.Add(ref results, 3) = DotBlocks.HorizontalSum(even3 + odd3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block(ref float table, ref float scales, ref byte x, ref byte y, nint stride, Vector256<sbyte> values, Vector256<byte> lowNibble,
        ref Vector256<float> acc0, ref Vector256<float> acc1, ref Vector256<float> acc2, ref Vector256<float> acc3)
    {
        ref byte y1 = ref Unsafe.Add(ref y, stride);
        ref byte y2 = ref Unsafe.Add(ref y, 2 * stride);
        ref byte y3 = ref Unsafe.Add(ref y, 3 * stride);
        // The four block scales dy·hx in one multiply (each the product DotMXFP4 forms), then broadcast from memory.
        var dy = Vector128.Create(HalfConversion.Lookup(ref table, ref y), HalfConversion.Lookup(ref table, ref y1),
            HalfConversion.Lookup(ref table, ref y2), HalfConversion.Lookup(ref table, ref y3));
        (dy * Vector128.Create(MXFP4.HalfScale(x))).StoreUnsafe(ref scales);

        var q = NibbleTable.Lookup(ref Unsafe.Add(ref x, MXFP4.OffsetQs), values, lowNibble);
        var magnitude = Avx2.Abs(q);
        acc0 = Token(ref y, scales, magnitude, q, acc0);
        acc1 = Token(ref y1, Unsafe.Add(ref scales, 1), magnitude, q, acc1);
        acc2 = Token(ref y2, Unsafe.Add(ref scales, 2), magnitude, q, acc2);
        acc3 = Token(ref y3, Unsafe.Add(ref scales, 3), magnitude, q, acc3);
    }

    /// <summary>One token: Σ v·y per lane by the sign trick |v|·(y·sign v), as <see cref="DotBlocks.MulSumSigned"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Token(ref byte y, float d, Vector256<byte> magnitude, Vector256<sbyte> q, Vector256<float> acc)
    {
        var sums = DotBlocks.MulSum(magnitude, Avx2.Sign(Vector256.LoadUnsafe(ref y, 2).AsSByte(), q));
        return Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sums), acc);
    }
}
