namespace Tern.Kernels.Dot;

/// <summary>Dot product of Q5_1 weights with their activation type. STUB: to be written.</summary>
public static class DotQ5_1
{
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => Scalar(weights, activations);

    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => throw new NotImplementedException();
}
