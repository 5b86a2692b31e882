using System.Numerics.Tensors;

namespace Tern.Kernels;

/// <summary>Activation functions.</summary>
public static class Activation
{
    /// <summary>SwiGLU: output = silu(gate) ⊙ up, silu(x) = x / (1 + e^−x). output may alias gate.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (up.Length != gate.Length || output.Length < gate.Length)
            throw new ArgumentException($"SwiGlu: gate {gate.Length}, up {up.Length}, output {output.Length}");
        // In chunks through a small scratch, so output may be gate itself.
        Span<float> t = stackalloc float[256];
        for (int i = 0; i < gate.Length; i += t.Length)
        {
            int n = Math.Min(t.Length, gate.Length - i);
            var g = gate.Slice(i, n);
            var s = t[..n];
            TensorPrimitives.Negate(g, s);
            TensorPrimitives.Exp(s, s);
            TensorPrimitives.Add(s, 1f, s);
            TensorPrimitives.Divide(g, s, s);
            TensorPrimitives.Multiply(s, up.Slice(i, n), output.Slice(i, n));
        }
    }

    /// <summary>SiLU in place: x = x / (1 + e^−x) (= x · sigmoid(x)).</summary>
    public static void Silu(Span<float> x)
    {
        Span<float> t = stackalloc float[256];
        for (int i = 0; i < x.Length; i += t.Length)
        {
            var xs = x.Slice(i, Math.Min(t.Length, x.Length - i));
            var s = t[..xs.Length];
            TensorPrimitives.Negate(xs, s);
            TensorPrimitives.Exp(s, s);
            TensorPrimitives.Add(s, 1f, s);
            TensorPrimitives.Divide(xs, s, xs);
        }
    }

    /// <summary>
    /// GEGLU with the tanh form of GELU: output = gelu(gate) ⊙ up, gelu(x) = x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³))).
    /// As ggml's CPU kernel does (a table indexed by F16): the argument is rounded to F16 and the GELU to F16 again,
    /// 0 at or below −10 and the identity at or above 10. output may alias gate.
    /// </summary>
    public static void GeluTanhGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (up.Length != gate.Length || output.Length < gate.Length)
            throw new ArgumentException($"GeluTanhGlu: gate {gate.Length}, up {up.Length}, output {output.Length}");
        const float SqrtTwoOverPi = 0.79788456080286535587989211986876f, Cubic = 0.044715f;
        Span<float> x = stackalloc float[256], t = stackalloc float[256];
        Span<Half> half = stackalloc Half[256];
        for (int i = 0; i < gate.Length; i += x.Length)
        {
            int n = Math.Min(x.Length, gate.Length - i);
            var g = gate.Slice(i, n);
            var xs = x[..n];
            var ts = t[..n];
            TensorPrimitives.ConvertToHalf(g, half[..n]);
            TensorPrimitives.ConvertToSingle(half[..n], xs);
            TensorPrimitives.Multiply(xs, xs, ts);                                   // x²
            TensorPrimitives.Multiply(ts, Cubic, ts);
            TensorPrimitives.Add(ts, 1f, ts);                                        // 1 + a·x²
            TensorPrimitives.Multiply(ts, xs, ts);
            TensorPrimitives.Multiply(ts, SqrtTwoOverPi, ts);
            TensorPrimitives.Tanh(ts, ts);
            TensorPrimitives.Add(ts, 1f, ts);
            TensorPrimitives.Multiply(ts, xs, ts);
            TensorPrimitives.Multiply(ts, 0.5f, ts);
            TensorPrimitives.ConvertToHalf(ts, half[..n]);
            TensorPrimitives.ConvertToSingle(half[..n], ts);
            for (int j = 0; j < n; j++)
                ts[j] = g[j] <= -10f ? 0f : g[j] >= 10f ? g[j] : ts[j];
            TensorPrimitives.Multiply(ts, up.Slice(i, n), output.Slice(i, n));
        }
    }

    /// <summary>softplus(x) = log(1 + eˣ), and x itself above 20, in float as ggml computes it.</summary>
    public static float Softplus(float x) => x > 20f ? x : MathF.Log(1f + MathF.Exp(x));

    /// <summary>
    /// Logit soft-capping in place: x = cap · tanh(x / cap), as ggml builds it (scale by 1/cap, tanh, scale by cap);
    /// gemma's <c>final_logit_softcapping</c> (and <c>attn_logit_softcapping</c> where a model uses it).
    /// </summary>
    public static void SoftCap(Span<float> x, float cap)
    {
        if (!(cap > 0) || float.IsInfinity(cap))
            throw new ArgumentOutOfRangeException(nameof(cap), cap, "SoftCap: the cap must be a positive finite number");
        TensorPrimitives.Multiply(x, 1f / cap, x);
        TensorPrimitives.Tanh(x, x);
        TensorPrimitives.Multiply(x, cap, x);
    }

    /// <summary>Softmax of each row of <paramref name="x"/> ([rows, width]) in place.</summary>
    public static void Softmax(Span<float> x, int width)
    {
        for (int row = 0; row < x.Length; row += width)
        {
            var r = x.Slice(row, width);
            TensorPrimitives.Subtract(r, TensorPrimitives.Max(r), r); // largest becomes e^0: no overflow
            TensorPrimitives.Exp(r, r);
            TensorPrimitives.Divide(r, TensorPrimitives.Sum(r), r);
        }
    }
}
