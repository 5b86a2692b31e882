namespace Tern.Kernels.Quant;

/// <summary>
/// The scale search IQ4_NL and IQ4_XS share (ggml's quantize_row_iq4_nl_impl without an importance matrix, as
/// llama-quantize runs it: 7 tries each side, errors weighted by x²), and the nearest-level lookups.
/// </summary>
internal static class IQ4Search
{
    private const int SubBlock = 32;
    private const int Tries = 7;
    private const float GroupMaxEps = 1e-15f;

    /// <summary>The best scale for each sub-block of 32 of <paramref name="x"/> (0 for an all-zero sub-block).</summary>
    public static void FindScales(ReadOnlySpan<float> x, Span<float> scales)
    {
        var values = IQ4_NL.Values;
        for (int ib = 0; ib < scales.Length; ib++)
        {
            var xb = x.Slice(ib * SubBlock, SubBlock);
            float amax = 0, max = 0;
            for (int j = 0; j < SubBlock; j++)
            {
                float ax = MathF.Abs(xb[j]);
                if (ax > amax)
                {
                    amax = ax;
                    max = xb[j];
                }
            }

            if (amax < GroupMaxEps)
            {
                scales[ib] = 0;
                continue;
            }

            // Start from the largest weight on the table's far end, refit, then try 15 nearby inverse scales.
            float d = -max / values[0];
            Fit(xb, 1 / d, out float sumqx, out float sumq2);
            d = sumqx / sumq2;
            float best = d * sumqx;
            for (int itry = -Tries; itry <= Tries; itry++)
            {
                Fit(xb, (itry + values[0]) / max, out sumqx, out sumq2);
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
                {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }

            scales[ib] = d;
        }
    }

    /// <summary>Σ w·q·x and Σ w·q² (w = x²) over the nearest levels q of x·<paramref name="id"/>, in ggml's float order.</summary>
    private static void Fit(ReadOnlySpan<float> xb, float id, out float sumqx, out float sumq2)
    {
        var values = IQ4_NL.Values;
        sumqx = 0;
        sumq2 = 0;
        for (int j = 0; j < xb.Length; j++)
        {
            float q = values[NearestLevel(id * xb[j])];
            float w = xb[j] * xb[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
    }

    /// <summary>levels[j] = the table index nearest x[j]·<paramref name="id"/>.</summary>
    public static void NearestLevels(ReadOnlySpan<float> x, float id, Span<byte> levels)
    {
        for (int j = 0; j < x.Length; j++)
        {
            levels[j] = (byte)NearestLevel(id * x[j]);
        }
    }

    /// <summary>ggml's best_index_int8 over the table: a binary search, ties to the upper level.</summary>
    public static int NearestLevel(float x)
    {
        var values = IQ4_NL.Values;
        if (x <= values[0])
            return 0;
        if (x >= values[15])
            return 15;
        int lo = 0, hi = 15;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (x < values[mid])
                hi = mid;
            else
                lo = mid;
        }

        return x - values[hi - 1] < values[hi] - x ? hi - 1 : hi;
    }

    /// <summary>Packs levels of whole 32-weight groups: weight j in the low nibble of byte j, weight j+16 in its high.</summary>
    public static void Pack(ReadOnlySpan<byte> levels, Span<byte> qs)
    {
        for (int i = 0; i < levels.Length / SubBlock; i++)
        {
            for (int j = 0; j < 16; j++)
            {
                qs[16 * i + j] = (byte)(levels[SubBlock * i + j] | (levels[SubBlock * i + 16 + j] << 4));
            }
        }
    }
}
