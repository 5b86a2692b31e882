using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Kernels;

/// <summary>
/// Attention of one query head over keys and values cached as F16, streamed block by block with an online
/// softmax: the running maximum and sum are carried between blocks and the output accumulator is rescaled when the
/// maximum grows, so no buffer grows with the context.
/// </summary>
public static class Attention
{
    /// <summary>Running maximum and sum of exp(score − maximum) of one query head.</summary>
    public struct OnlineSoftmax
    {
        public float Max;
        public float Sum;

        public static OnlineSoftmax Empty => new() { Max = float.NegativeInfinity, Sum = 0 };
    }

    /// <summary>
    /// Adds <paramref name="count"/> cached positions to one head's attention: scores = scale · q·kᵢ, then
    /// acc = acc·e^(m−m') + Σ e^(sᵢ−m')·vᵢ. Key and value i start at i·<paramref name="stride"/> halves (the head's
    /// slice of a cache row); <paramref name="scores"/> is scratch of at least count floats. q, acc: [headDim].
    /// </summary>
    public static void Accumulate(ReadOnlySpan<float> q, ReadOnlySpan<ushort> keys, ReadOnlySpan<ushort> values, int stride, int count,
        float scale, ref OnlineSoftmax state, Span<float> acc, Span<float> scores)
    {
        int headDim = q.Length;
        if (count <= 0)
            return;
        if (acc.Length != headDim || scores.Length < count || keys.Length < (count - 1) * stride + headDim || values.Length < (count - 1) * stride + headDim)
            throw new ArgumentException("Attention.Accumulate: buffer sizes do not match count, stride and head size");

        float blockMax = float.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            float s = scale * DotF16(q, keys.Slice(i * stride, headDim));
            scores[i] = s;
            blockMax = MathF.Max(blockMax, s);
        }

        float newMax = MathF.Max(state.Max, blockMax);
        if (newMax > state.Max)
        {
            float rescale = MathF.Exp(state.Max - newMax); // 0 for the first block
            state.Sum *= rescale;
            Scale(acc, rescale);
            state.Max = newMax;
        }

        for (int i = 0; i < count; i++)
        {
            float p = MathF.Exp(scores[i] - newMax);
            state.Sum += p;
            AddScaledF16(acc, p, values.Slice(i * stride, headDim));
        }
    }

    /// <summary>Divides the accumulator by the softmax sum: the head's attention output.</summary>
    public static void Finish(in OnlineSoftmax state, Span<float> acc) => Scale(acc, state.Sum > 0 ? 1f / state.Sum : 0f);

    /// <summary>q · k with k in F16 (AVX2 when available, else <see cref="DotF16Scalar"/>).</summary>
    public static float DotF16(ReadOnlySpan<float> q, ReadOnlySpan<ushort> k)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
            return DotF16Scalar(q, k);
        int n = q.Length;
        ref float qr = ref MemoryMarshal.GetReference(q);
        ref short kr = ref Unsafe.As<ushort, short>(ref MemoryMarshal.GetReference(k));
        var sum = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8)
            sum = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref qr, (nuint)i), HalfConversion.ToSingle(Vector128.LoadUnsafe(ref kr, (nuint)i)), sum);
        float total = Vector256.Sum(sum);
        for (; i < n; i++)
            total += Unsafe.Add(ref qr, i) * HalfConversion.ToSingle((ushort)Unsafe.Add(ref kr, i));
        return total;
    }

    /// <summary>Scalar twin of <see cref="DotF16"/>.</summary>
    public static float DotF16Scalar(ReadOnlySpan<float> q, ReadOnlySpan<ushort> k)
    {
        float total = 0;
        for (int i = 0; i < q.Length; i++)
            total += q[i] * HalfConversion.ToSingle(k[i]);
        return total;
    }

    /// <summary>acc += p · v with v in F16 (AVX2 when available, else <see cref="AddScaledF16Scalar"/>).</summary>
    public static void AddScaledF16(Span<float> acc, float p, ReadOnlySpan<ushort> v)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            AddScaledF16Scalar(acc, p, v);
            return;
        }

        int n = acc.Length;
        ref float ar = ref MemoryMarshal.GetReference(acc);
        ref short vr = ref Unsafe.As<ushort, short>(ref MemoryMarshal.GetReference(v));
        var pv = Vector256.Create(p);
        int i = 0;
        for (; i + 8 <= n; i += 8)
            Fma.MultiplyAdd(pv, HalfConversion.ToSingle(Vector128.LoadUnsafe(ref vr, (nuint)i)), Vector256.LoadUnsafe(ref ar, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref ar, i) += p * HalfConversion.ToSingle((ushort)Unsafe.Add(ref vr, i));
    }

    /// <summary>Scalar twin of <see cref="AddScaledF16"/>.</summary>
    public static void AddScaledF16Scalar(Span<float> acc, float p, ReadOnlySpan<ushort> v)
    {
        for (int i = 0; i < acc.Length; i++)
            acc[i] += p * HalfConversion.ToSingle(v[i]);
    }

    private static void Scale(Span<float> x, float factor) => System.Numerics.Tensors.TensorPrimitives.Multiply(x, factor, x);

    /// <summary>
    /// Plain reference for tests: softmax(scale · K q) · V over all <paramref name="count"/> positions at once, in
    /// double, with keys and values given as floats [count, headDim].
    /// </summary>
    public static void Reference(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int count, float scale, Span<float> output)
    {
        int d = q.Length;
        var scores = new double[count];
        double max = double.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            double s = 0;
            for (int j = 0; j < d; j++)
                s += (double)q[j] * keys[i * d + j];
            scores[i] = s * scale;
            max = Math.Max(max, scores[i]);
        }

        double sum = 0;
        for (int i = 0; i < count; i++)
        {
            scores[i] = Math.Exp(scores[i] - max);
            sum += scores[i];
        }

        for (int j = 0; j < d; j++)
        {
            double o = 0;
            for (int i = 0; i < count; i++)
                o += scores[i] * values[i * d + j];
            output[j] = (float)(o / sum);
        }
    }
}
