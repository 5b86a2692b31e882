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
            var xr = x.Slice(row, d);
            var yr = y.Slice(row, d);
            float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / d + eps);
            TensorPrimitives.Multiply(xr, scale, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }
}
