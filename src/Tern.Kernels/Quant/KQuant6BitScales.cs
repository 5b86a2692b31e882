namespace Tern.Kernels.Quant;

/// <summary>The parts Q4_K and Q5_K's reference quantizers share: 8 groups of 32 with 6-bit scales and mins.</summary>
internal static class KQuant6BitScales
{
    /// <summary>Per group of 32: weights av_x + |x| with av_x the group's rms, then make_qkx2_quants.</summary>
    public static void FindGroupScales(ReadOnlySpan<float> x, int nmax, float rmin, float rdelta, int nstep,
        Span<byte> levels, Span<byte> aux, Span<float> weights, Span<float> scales, Span<float> mins,
        out float maxScale, out float maxMin)
    {
        maxScale = 0;
        maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var xg = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += xg[l] * xg[l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(xg[l]);
            scales[j] = ScaleSearch.MakeQkx2Quants(32, nmax, xg, weights, levels.Slice(32 * j, 32), out mins[j], aux, rmin, rdelta, nstep, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
    }

    /// <summary>Quantizes scales and mins to 6 bits against their maxima and packs them as get_scale_min_k4 reads them.</summary>
    public static void Pack(Span<byte> b, int offsetD, int offsetDmin, int offsetScales,
        ReadOnlySpan<float> scales, ReadOnlySpan<float> mins, float maxScale, float maxMin)
    {
        var packed = b.Slice(offsetScales, 12);
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 8; j++)
        {
            byte ls = Math.Min((byte)63, (byte)ScaleSearch.NearestInt(invScale * scales[j]));
            byte lm = Math.Min((byte)63, (byte)ScaleSearch.NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }

        F16.Write(b, offsetD, maxScale / 63f);
        F16.Write(b, offsetDmin, maxMin / 63f);
    }

    /// <summary>Recomputes the levels against the rounded scales actually stored (groups with a zero scale keep theirs).</summary>
    public static void Requantize(ReadOnlySpan<float> x, ReadOnlySpan<byte> b, int offsetD, int offsetDmin, int offsetScales, int nmax, Span<byte> levels)
    {
        var packed = b.Slice(offsetScales, 12);
        float dAll = F16.Read(b, offsetD), mAll = F16.Read(b, offsetDmin);
        for (int j = 0; j < 8; j++)
        {
            var (sc, m) = ScaleSearch.GetScaleMinK4(j, packed);
            float d = dAll * sc;
            if (d == 0) continue;
            float dm = mAll * m;
            for (int ii = 0; ii < 32; ii++)
            {
                int l = ScaleSearch.NearestInt((x[32 * j + ii] + dm) / d);
                levels[32 * j + ii] = (byte)Math.Max(0, Math.Min(nmax, l));
            }
        }
    }
}
