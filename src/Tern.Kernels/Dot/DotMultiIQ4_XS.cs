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
                var qs = x.Slice(IQ4_XS.OffsetQs + 16 * ib, 16);
                for (int j = 0; j < 16; j++)
                {
                    q[j] = values[qs[j] & 0x0F];
                    q[j + 16] = values[qs[j] >> 4];
                }

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
        var values = DotIQ4_NL.Table();
        var lowNibble = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int b = 0; b < blocks; b++)
        {
            ref byte y1 = ref Unsafe.Add(ref y, stride);
            ref byte y2 = ref Unsafe.Add(ref y, 2 * stride);
            ref byte y3 = ref Unsafe.Add(ref y, 3 * stride);
            int high = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref x, IQ4_XS.OffsetScalesH));
            uint low = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, IQ4_XS.OffsetScalesL));
            Vector256<int> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
            for (int ib = 0; ib < 8; ib++)
            {
                int ls = (int)((low >> (4 * ib)) & 0x0F) | (((high >> (2 * ib)) & 3) << 4);
                var scale = Vector256.Create((short)(ls - 32));
                var q = DotIQ4_NL.Load(ref Unsafe.Add(ref x, IQ4_XS.OffsetQs + 16 * ib), values, lowNibble);
                var magnitude = Avx2.Abs(q);
                nuint offset = (nuint)(Q8_K.OffsetQs + 32 * ib);
                sum0 = Step(sum0, magnitude, q, scale, ref y, offset);
                sum1 = Step(sum1, magnitude, q, scale, ref y1, offset);
                sum2 = Step(sum2, magnitude, q, scale, ref y2, offset);
                sum3 = Step(sum3, magnitude, q, scale, ref y3, offset);
            }

            float dx = HalfConversion.Lookup(ref table, ref x);
            acc0 = Fma.MultiplyAdd(Vector256.Create(dx * Unsafe.ReadUnaligned<float>(ref y)), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(dx * Unsafe.ReadUnaligned<float>(ref y1)), Avx.ConvertToVector256Single(sum1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(dx * Unsafe.ReadUnaligned<float>(ref y2)), Avx.ConvertToVector256Single(sum2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(dx * Unsafe.ReadUnaligned<float>(ref y3)), Avx.ConvertToVector256Single(sum3), acc3);
            x = ref Unsafe.Add(ref x, WeightBlockBytes);
            y = ref Unsafe.Add(ref y, ActivationBlockBytes);
        }

        results = DotBlocks.HorizontalSum(acc0);
        Unsafe.Add(ref results, 1) = DotBlocks.HorizontalSum(acc1);
        Unsafe.Add(ref results, 2) = DotBlocks.HorizontalSum(acc2);
        Unsafe.Add(ref results, 3) = DotBlocks.HorizontalSum(acc3);
    }

    /// <summary>One token's 32 activations of a sub-block against its 32 weights, scaled by the sub-block scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Step(Vector256<int> sum, Vector256<byte> magnitude, Vector256<sbyte> q, Vector256<short> scale, ref byte y, nuint offset)
    {
        var pairs = Avx2.MultiplyAddAdjacent(magnitude, Avx2.Sign(Vector256.LoadUnsafe(ref y, offset).AsSByte(), q));
        return DotBlocks.MulAddPairs(sum, pairs, scale);
    }
}
