namespace Tern.Kernels;

/// <summary>How RoPE pairs the dimensions of a head.</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (2i, 2i+1): llama, bitnet.</summary>
    Normal,

    /// <summary>Halves (i, i + d/2): GPT-NeoX, qwen2.</summary>
    NeoX,
}

/// <summary>Rotary position embedding.</summary>
public static class Rope
{
    /// <summary>
    /// cos and sin of the rotation angles of one position: [ropeDim/2] each. θᵢ = position · base^(−2i/ropeDim),
    /// built by repeated multiplication in float as ggml does, so angles agree with llama.cpp to the last bit.
    /// With <paramref name="freqFactors"/> (a model's <c>rope_freqs</c>, at least ropeDim/2 of them) each angle is
    /// divided by its factor, θᵢ / fᵢ, as ggml's rope cache does; gemma4's proportional RoPE uses factors of 1 for
    /// the rotated pairs and 1e30 for the pairs it leaves (in effect) unrotated.
    /// </summary>
    public static void Angles(int position, int ropeDim, float freqBase, Span<float> cos, Span<float> sin, ReadOnlySpan<float> freqFactors = default)
    {
        int half = ropeDim / 2;
        if (!freqFactors.IsEmpty && freqFactors.Length < half)
            throw new ArgumentException($"Rope.Angles: {freqFactors.Length} frequency factors for {half} dimension pairs", nameof(freqFactors));
        float thetaScale = MathF.Pow(freqBase, -2.0f / ropeDim);
        float theta = position;
        for (int i = 0; i < half; i++)
        {
            float angle = freqFactors.IsEmpty ? theta : theta / freqFactors[i];
            cos[i] = MathF.Cos(angle);
            sin[i] = MathF.Sin(angle);
            theta *= thetaScale;
        }
    }

    /// <summary>Rotates the first 2·cos.Length dimensions of one head in place; the rest stay as they are.</summary>
    public static void Apply(RopeStyle style, Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = cos.Length;
        for (int i = 0; i < half; i++)
        {
            // Normal pairs neighbours; NeoX pairs dimension i with i + half.
            int a = style == RopeStyle.Normal ? 2 * i : i;
            int b = style == RopeStyle.Normal ? 2 * i + 1 : i + half;
            float x0 = head[a];
            float x1 = head[b];
            // Fused as llama.cpp's compiled rotate_pairs is (the x0 product fused, the other rounded first).
            head[a] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
            head[b] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
        }
    }
}
