using System.Numerics.Tensors;

namespace Tern.Kernels;

/// <summary>Normalization layers.</summary>
public static class Norm
{
    /// <summary>
    /// RMS norm of each row: y = x / sqrt(mean(x²) + eps) ⊙ weight. x and y are [rows, weight.Length] and may be
    /// the same buffer. As in ggml, x is scaled first and the weight multiplied after, each rounded to float.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int d = weight.Length;
        if (d == 0 || x.Length % d != 0 || y.Length < x.Length)
            throw new ArgumentException($"RmsNorm: x holds {x.Length} floats, not rows of {d} (y {y.Length})");
        for (int row = 0; row < x.Length; row += d)
        {
            var yr = y.Slice(row, d);
            Scale(x.Slice(row, d), eps, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>
    /// L2 norm of each row of <paramref name="x"/> ([rows, d]) in place: x / max(‖x‖, eps), as ggml_l2_norm
    /// (the norm is clamped, not eps added under the root).
    /// </summary>
    public static void L2Norm(Span<float> x, int d, float eps)
    {
        if (d <= 0 || x.Length % d != 0)
            throw new ArgumentException($"L2Norm: x holds {x.Length} floats, not rows of {d}");
        for (int row = 0; row < x.Length; row += d)
        {
            var r = x.Slice(row, d);
            TensorPrimitives.Multiply(r, 1f / MathF.Max(MathF.Sqrt(TensorPrimitives.SumOfSquares(r)), eps), r);
        }
    }

    /// <summary>
    /// Gated RMS norm of each row (qwen35moe's DeltaNet output): y = RmsNorm(x) ⊙ weight ⊙ silu(z). x, z and y are
    /// [rows, weight.Length]; y may be x.
    /// </summary>
    public static void GatedRmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> z, float eps, Span<float> y)
    {
        if (z.Length != x.Length)
            throw new ArgumentException($"GatedRmsNorm: x {x.Length}, z {z.Length}");
        RmsNorm(x, weight, eps, y);
        Activation.SwiGlu(z, y[..x.Length], y);
    }

    /// RMS norm of each row without a weight (ggml_rms_norm alone): y = x / sqrt(mean(x²) + eps). x and y are
    /// [rows, width] and may be the same buffer. gemma4 uses it for its value heads and its router's input.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, int width, float eps, Span<float> y)
    {
        if (width <= 0 || x.Length % width != 0 || y.Length < x.Length)
            throw new ArgumentException($"RmsNorm: x holds {x.Length} floats, not rows of {width} (y {y.Length})");
        for (int row = 0; row < x.Length; row += width)
            Scale(x.Slice(row, width), eps, y.Slice(row, width));
    }

    /// <summary>
    /// y = x / sqrt(mean(x²) + eps) rounded as ggml_compute_forward_rms_norm: each square in float summed in double
    /// in order, the mean rounded to float, the scale 1/sqrtf(mean + eps) in float.
    /// </summary>
    private static void Scale(ReadOnlySpan<float> x, float eps, Span<float> y)
    {
        double sum = 0;
        foreach (float v in x)
            sum += v * v;
        float mean = (float)(sum / x.Length);
        TensorPrimitives.Multiply(x, 1f / MathF.Sqrt(mean + eps), y);
    }
}
