namespace Tern.Kernels.Dot;

/// <summary>Dot product of Q8_0 weights with their activation type. STUB: to be written.</summary>
public static class DotQ8_0
{
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => Scalar(weights, activations);

    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => throw new NotImplementedException();
}
