namespace Tern.Runtime.Sampling;

/// <summary>
/// The model's logits hold NaN or +infinity: its weights or its arithmetic are broken (a damaged or badly
/// converted file), so whatever token were picked would be garbage. Thrown instead of sampling one.
/// </summary>
public sealed class InvalidLogitsException : InvalidOperationException
{
    private InvalidLogitsException(string message) : base(message)
    {
    }

    /// <summary>Throws when <paramref name="logits"/> hold a NaN or +infinity (one vectorised pass: Max propagates NaN).</summary>
    public static void ThrowIfInvalid(ReadOnlySpan<float> logits)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(logits);
        if (!float.IsNaN(max) && !float.IsPositiveInfinity(max))
            return;
        int first = 0;
        while (!float.IsNaN(logits[first]) && !float.IsPositiveInfinity(logits[first]))
            first++;
        throw new InvalidLogitsException(
            $"The model's logits hold {logits[first]} (first at token {first} of {logits.Length}): its weights or its computation are broken " +
            "(a damaged or badly converted model file?), so no token can be sampled.");
    }
}
