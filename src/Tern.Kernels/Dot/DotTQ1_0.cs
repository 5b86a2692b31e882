namespace Tern.Kernels.Dot;

/// <summary>Dot product of TQ1_0 weights with their activation type. STUB: to be written.</summary>
public static class DotTQ1_0
{
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => Scalar(weights, activations);

    public static float Scalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) => throw new NotImplementedException();
}
