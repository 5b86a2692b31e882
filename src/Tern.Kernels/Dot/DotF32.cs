using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels.Dot;

/// <summary>F32 weights · F32 activations (little-endian floats).</summary>
[SkipLocalsInit]
public static class DotF32
{
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int n = DotBlocks.Count(weights, sizeof(float), activations, sizeof(float));
        return DotBlocks.Avx2Fma
            ? Avx2Dot(ref Unsafe.As<byte, float>(ref MemoryMarshal.GetReference(weights)), ref Unsafe.As<byte, float>(ref MemoryMarshal.GetReference(activations)), n)
            : ScalarElements(weights, activations, n);
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // placement of the long loop inside callers proved up to 2.5x slower
    private static float Avx2Dot(ref float x, ref float y, int n)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var acc3 = Vector256<float>.Zero;
        nuint i = 0;
        nuint count = (nuint)n;
        // Four independent accumulators hide the FMA latency.
        for (; i + 32 <= count; i += 32)
        {
            acc0 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref x, i), Vector256.LoadUnsafe(ref y, i), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref x, i + 8), Vector256.LoadUnsafe(ref y, i + 8), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref x, i + 16), Vector256.LoadUnsafe(ref y, i + 16), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref x, i + 24), Vector256.LoadUnsafe(ref y, i + 24), acc3);
        }

        for (; i + 8 <= count; i += 8)
        {
            acc0 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref x, i), Vector256.LoadUnsafe(ref y, i), acc0);
        }

        float sum = DotBlocks.HorizontalSum((acc0 + acc1) + (acc2 + acc3));
        for (; i < count; i++)
        {
            sum += Unsafe.Add(ref x, i) * Unsafe.Add(ref y, i);
        }

        return sum;
    }

    /// <summary>Plain reference: products summed in double (as ggml_vec_dot_f32's generic path).</summary>
    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        ScalarElements(weights, activations, DotBlocks.Count(weights, sizeof(float), activations, sizeof(float)));

    private static float ScalarElements(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        var x = MemoryMarshal.Cast<byte, float>(weights);
        var y = MemoryMarshal.Cast<byte, float>(activations);
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            sum += x[i] * y[i];
        }

        return (float)sum;
    }
}
