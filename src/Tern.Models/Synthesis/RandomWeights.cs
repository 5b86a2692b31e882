using System.Runtime.CompilerServices;

namespace Tern.Models.Synthesis;

/// <summary>
/// Deterministic random weights. Each row has its own generator, seeded from (seed, tensor name, row), so rows can
/// be made in any order on any thread and a model with fewer layers holds the same values in the layers it keeps.
/// </summary>
internal static class RandomWeights
{
    public const float Std = 0.02f;

    public static ulong TensorKey(string name)
    {
        ulong h = 14695981039346656037; // FNV-1a
        foreach (char c in name)
            h = (h ^ c) * 1099511628211;
        return h;
    }

    /// <summary>Normal-ish values with standard deviation <paramref name="std"/> (sum of four uniforms, |x| &lt; 3.5 std).</summary>
    public static void Normal(ulong seed, ulong tensorKey, long row, Span<float> output, float std = Std)
    {
        ulong state = RowSeed(seed, tensorKey, row);
        // each 16-bit uniform has variance 65536²/12, so four of them sum to a variance of 65536²/3
        float scale = std / (65536f / MathF.Sqrt(3f));
        for (int i = 0; i < output.Length; i++)
        {
            ulong r = Next(ref state);
            long sum = (long)(r & 0xFFFF) + (long)((r >> 16) & 0xFFFF) + (long)((r >> 32) & 0xFFFF) + (long)(r >> 48);
            output[i] = (sum - 131070) * scale; // the mean of the sum is 4 × 32767.5
        }
    }

    /// <summary>BitNet b1.58 style values: −<paramref name="scale"/>, 0 or +<paramref name="scale"/>, equally likely.</summary>
    public static void Ternary(ulong seed, ulong tensorKey, long row, Span<float> output, float scale = Std)
    {
        ulong state = RowSeed(seed, tensorKey, row);
        ulong r = 0;
        for (int i = 0; i < output.Length; i++)
        {
            if ((i & 3) == 0)
                r = Next(ref state);
            // the top 16 bits of each quarter, times 3, give 0, 1 or 2 with equal chance (to 1 in 65536)
            int q = (int)(((r >> (16 * (i & 3))) & 0xFFFF) * 3 >> 16);
            output[i] = (q - 1) * scale;
        }
    }

    /// <summary>Uniform indices in [0, <paramref name="count"/>): which pool blocks make up a row.</summary>
    public static void Indices(ulong seed, ulong tensorKey, long row, Span<int> output, int count)
    {
        ulong state = RowSeed(seed, tensorKey, row);
        for (int i = 0; i < output.Length; i++)
            output[i] = (int)(((Next(ref state) >> 32) * (ulong)count) >> 32);
    }

    private static ulong RowSeed(ulong seed, ulong tensorKey, long row) =>
        Mix(Mix(seed) ^ tensorKey ^ Mix((ulong)row + 0x632BE59BD9B4E019));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Next(ref ulong state) => Mix(state += 0x9E3779B97F4A7C15); // SplitMix64

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
