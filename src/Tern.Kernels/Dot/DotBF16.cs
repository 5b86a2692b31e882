using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>BF16 weights · BF16 activations. A bfloat16 is the upper half of a float's bits, so widening is a shift.</summary>
[SkipLocalsInit]
public static class DotBF16
{
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int n = DotBlocks.Count(weights, sizeof(ushort), activations, sizeof(ushort));
        return DotBlocks.Avx2Fma
            ? Avx2Dot(ref MemoryMarshal.GetReference(weights), ref MemoryMarshal.GetReference(activations), n)
            : ScalarElements(weights, activations, n);
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static float Avx2Dot(ref byte x, ref byte y, int n)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var acc3 = Vector256<float>.Zero;
        var highHalf = Vector256.Create(0xFFFF0000u);
        nuint i = 0;
        nuint count = (nuint)n;
        // 32 elements a step: in each 32-bit lane the even element widens by a shift, the odd one by a mask.
        for (; i + 32 <= count; i += 32)
        {
            var x0 = Vector256.LoadUnsafe(ref x, 2 * i).AsUInt32();
            var y0 = Vector256.LoadUnsafe(ref y, 2 * i).AsUInt32();
            var x1 = Vector256.LoadUnsafe(ref x, 2 * i + 32).AsUInt32();
            var y1 = Vector256.LoadUnsafe(ref y, 2 * i + 32).AsUInt32();
            acc0 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(x0, 16).AsSingle(), Avx2.ShiftLeftLogical(y0, 16).AsSingle(), acc0);
            acc1 = Fma.MultiplyAdd((x0 & highHalf).AsSingle(), (y0 & highHalf).AsSingle(), acc1);
            acc2 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(x1, 16).AsSingle(), Avx2.ShiftLeftLogical(y1, 16).AsSingle(), acc2);
            acc3 = Fma.MultiplyAdd((x1 & highHalf).AsSingle(), (y1 & highHalf).AsSingle(), acc3);
        }

        for (; i + 16 <= count; i += 16)
        {
            var x0 = Vector256.LoadUnsafe(ref x, 2 * i).AsUInt32();
            var y0 = Vector256.LoadUnsafe(ref y, 2 * i).AsUInt32();
            acc0 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(x0, 16).AsSingle(), Avx2.ShiftLeftLogical(y0, 16).AsSingle(), acc0);
            acc1 = Fma.MultiplyAdd((x0 & highHalf).AsSingle(), (y0 & highHalf).AsSingle(), acc1);
        }

        float sum = DotBlocks.HorizontalSum((acc0 + acc1) + (acc2 + acc3));
        for (; i < count; i++)
        {
            sum += ToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref x, 2 * i))) * ToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref y, 2 * i)));
        }

        return sum;
    }

    /// <summary>Plain reference: products summed in double (as ggml_vec_dot_bf16's generic path).</summary>
    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        ScalarElements(weights, activations, DotBlocks.Count(weights, sizeof(ushort), activations, sizeof(ushort)));

    private static float ScalarElements(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            sum += ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(weights[(2 * i)..])) * ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(activations[(2 * i)..]));
        }

        return (float)sum;
    }

    private static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
