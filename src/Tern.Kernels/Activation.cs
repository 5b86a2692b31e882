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
    /// As ggml's CPU kernel does: the GELU of gate rounded to F16 read from a table indexed by F16 (built with ggml's
    /// float expression and tanhf), 0 at or below −10 and the identity at or above 10. output may alias gate.
    /// </summary>
    public static void GeluTanhGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (up.Length != gate.Length || output.Length < gate.Length)
            throw new ArgumentException($"GeluTanhGlu: gate {gate.Length}, up {up.Length}, output {output.Length}");
        var table = GeluTable.Value;
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            output[i] = g <= -10f ? 0f : g >= 10f ? g * up[i] : table[BitConverter.HalfToUInt16Bits((Half)g)] * up[i];
        }
    }

    /// <summary>ggml_table_gelu_f16 as floats: for every F16 x, F16(0.5f·x·(1 + tanhf(√(2/π)·x·(1 + 0.044715·x·x)))).</summary>
    private static readonly Lazy<float[]> GeluTable = new(() =>
    {
        const float SqrtTwoOverPi = 0.79788456080286535587989211986876f, Cubic = 0.044715f;
        var table = new float[65536];
        for (int i = 0; i < table.Length; i++)
        {
            float x = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            float inner = SqrtTwoOverPi * x * (1.0f + Cubic * x * x);
            table[i] = (float)(Half)(0.5f * x * (1.0f + MathF.Tanh(inner)));
        }

        return table;
    });

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
        for (int i = 0; i < x.Length; i++)
            x[i] = MathF.Tanh(x[i]);                                              // tanhf, as ggml_vec_tanh_f32
        TensorPrimitives.Multiply(x, cap, x);
    }

    /// <summary>
    /// Softmax of each row of <paramref name="x"/> ([rows, width]) in place, rounded as ggml's CPU soft_max: e^(x − max)
    /// with ggml's vector expf (<see cref="GgmlExp"/>) for each whole group of 8 and expf for the rest, each group's sum
    /// (its lanes added as one AVX register) accumulated in double, then every value times the float of 1/sum.
    /// </summary>
    public static void Softmax(Span<float> x, int width)
    {
        for (int row = 0; row < x.Length; row += width)
        {
            var r = x.Slice(row, width);
            float max = TensorPrimitives.Max(r);
            double sum = 0;
            int i = 0;
            for (; i + 8 <= width; i += 8)
            {
                for (int j = i; j < i + 8; j++)
                    r[j] = GgmlExp(r[j] - max);
                sum += ((r[i + 4] + r[i]) + (r[i + 6] + r[i + 2])) + ((r[i + 5] + r[i + 1]) + (r[i + 7] + r[i + 3]));
            }

            for (; i < width; i++)
            {
                r[i] = MathF.Exp(r[i] - max);
                sum += r[i];
            }

            TensorPrimitives.Multiply(r, (float)(1.0 / sum), r);
        }
    }

    /// <summary>
    /// e^x as ggml's AVX2 ggml_v_expf computes it (ARM's optimized-routines polynomial, max error 1.5 ulp), one lane
    /// at a time: the same float operations, so the same bits.
    /// </summary>
    public static float GgmlExp(float x)
    {
        float shift = F(0x4b400000);                                             // 0x1.8p23
        float z = MathF.FusedMultiplyAdd(x, F(0x3fb8aa3b), shift);              // x·log2(e) + shift
        float n = z - shift;
        float b = MathF.FusedMultiplyAdd(-n, F(0x35bfbe8e), MathF.FusedMultiplyAdd(-n, F(0x3f317200), x));
        uint e = BitConverter.SingleToUInt32Bits(z) << 23;
        float k = BitConverter.UInt32BitsToSingle(e + BitConverter.SingleToUInt32Bits(1f));
        float u = b * b;
        float j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(F(0x3c072010), b, F(0x3d2b9f17)), u, MathF.FusedMultiplyAdd(F(0x3e2aaf33), b, F(0x3efffedb))),
            u, F(0x3f7ffff6) * b);
        if (!(MathF.Abs(n) > 126f))
            return MathF.FusedMultiplyAdd(k, j, k);
        uint g = n <= 0f ? 0x82000000u : 0u;
        float s1 = BitConverter.UInt32BitsToSingle(g + 0x7f000000u);
        float s2 = BitConverter.UInt32BitsToSingle(e - g);
        return MathF.Abs(n) > 192f ? s1 * s1 : MathF.FusedMultiplyAdd(s2, j, s2) * s1;

        static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);
    }
}
