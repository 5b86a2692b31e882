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
