namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q2_K: 256 weights in 16 groups of 16, x = d·sc·q − dmin·m, q in 0..3, sc and m 4-bit per group.
/// Layout (84 bytes): scales[16] (low nibble sc, high nibble m) | qs[64] | d (f16) | dmin (f16).
/// qs: for each half of 128 weights, byte l of its 32 holds weights l, l+32, l+64, l+96 in bit pairs 0-1, 2-3, 4-5, 6-7.
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
public static class Q2_K
{
    public const int BlockSize = 256;
    public const int BlockBytes = 84;
    public const int OffsetScales = 0;
    public const int OffsetQs = 16;
    public const int OffsetD = 80;
    public const int OffsetDmin = 82;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            float min = F16.Read(b, OffsetDmin);
            var scales = b.Slice(OffsetScales, 16);

            int o = 0, si = 0;
            for (int n = 0; n < BlockSize; n += 128)
            {
                var q = b.Slice(OffsetQs + n / 4, 32);
                for (int shift = 0; shift < 8; shift += 2)
                {
                    int sc = scales[si++];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) y[o++] = dl * ((q[l] >> shift) & 3) - ml;

                    sc = scales[si++];
                    dl = d * (sc & 0xF);
                    ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) y[o++] = dl * ((q[l + 16] >> shift) & 3) - ml;
                }
            }
        }
    }

    /// <summary>quantize_row_q2_K_ref: per group make_qkx2_quants(16, 3) weighted by |x|, then 4-bit scales and mins.</summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        Span<byte> levels = stackalloc byte[BlockSize];
        Span<byte> aux = stackalloc byte[16];
        Span<float> weights = stackalloc float[16];
        Span<float> mins = stackalloc float[16];
        Span<float> scales = stackalloc float[16];
        const float Q4Scale = 15f;

        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var bs = b.Slice(OffsetScales, 16);

            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(x[16 * j + l]);
                scales[j] = ScaleSearch.MakeQkx2Quants(16, 3, x.Slice(16 * j, 16), weights, levels.Slice(16 * j, 16), out mins[j], aux, -0.5f, 0.1f, 15, true);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }

            if (maxScale > 0)
            {
                float iscale = Q4Scale / maxScale;
                for (int j = 0; j < 16; j++) bs[j] = (byte)ScaleSearch.NearestInt(iscale * scales[j]);
                F16.Write(b, OffsetD, maxScale / Q4Scale);
            }
            else
            {
                bs.Clear();
                F16.Write(b, OffsetD, 0f);
            }

            if (maxMin > 0)
            {
                float iscale = Q4Scale / maxMin;
                for (int j = 0; j < 16; j++) bs[j] |= (byte)(ScaleSearch.NearestInt(iscale * mins[j]) << 4);
                F16.Write(b, OffsetDmin, maxMin / Q4Scale);
            }
            else
            {
                F16.Write(b, OffsetDmin, 0f);
            }

            float dAll = F16.Read(b, OffsetD), mAll = F16.Read(b, OffsetDmin);
            for (int j = 0; j < 16; j++)
            {
                float d = dAll * (bs[j] & 0xF);
                if (d == 0) continue;
                float dm = mAll * (bs[j] >> 4);
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = ScaleSearch.NearestInt((x[16 * j + ii] + dm) / d);
                    levels[16 * j + ii] = (byte)Math.Max(0, Math.Min(3, l));
                }
            }

            var qs = b.Slice(OffsetQs, 64);
            for (int j = 0; j < BlockSize; j += 128)
            {
                for (int l = 0; l < 32; l++)
                {
                    qs[j / 4 + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 2) | (levels[j + l + 64] << 4) | (levels[j + l + 96] << 6));
                }
            }
        }
    }
}
