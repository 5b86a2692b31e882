namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q4_K: 256 weights in 8 groups of 32, x = d·sc·q − dmin·m, q in 0..15, sc and m 6-bit per group.
/// Layout (144 bytes): d (f16) | dmin (f16) | scales[12] (packed 6-bit sc/m, see <see cref="ScaleMin"/>) | qs[128].
/// qs: each 64 weights use 32 bytes; weight l in the low nibble of byte l, weight l+32 in its high nibble.
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
public static class Q4_K
{
    public const int BlockSize = 256;
    public const int BlockBytes = 144;
    public const int OffsetD = 0;
    public const int OffsetDmin = 2;
    public const int OffsetScales = 4;
    public const int OffsetQs = 16;

    /// <summary>6-bit scale and min of group <paramref name="j"/> (0..7) from the 12 packed scale bytes (ggml's get_scale_min_k4).</summary>
    public static (int Scale, int Min) ScaleMin(ReadOnlySpan<byte> scales, int j) => ScaleSearch.GetScaleMinK4(j, scales);

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            float min = F16.Read(b, OffsetDmin);
            var scales = b.Slice(OffsetScales, 12);

            int o = 0, si = 0;
            for (int j = 0; j < BlockSize; j += 64)
            {
                var q = b.Slice(OffsetQs + j / 2, 32);
                var (sc1, m1) = ScaleSearch.GetScaleMinK4(si, scales);
                var (sc2, m2) = ScaleSearch.GetScaleMinK4(si + 1, scales);
                float d1 = d * sc1, min1 = min * m1;
                float d2 = d * sc2, min2 = min * m2;
                for (int l = 0; l < 32; l++) y[o++] = d1 * (q[l] & 0xF) - min1;
                for (int l = 0; l < 32; l++) y[o++] = d2 * (q[l] >> 4) - min2;
                si += 2;
            }
        }
    }

    /// <summary>quantize_row_q4_K_ref: per group make_qkx2_quants(32, 15) weighted by rms + |x|, then 6-bit scales and mins.</summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        Span<byte> levels = stackalloc byte[BlockSize];
        Span<byte> aux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];

        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            KQuant6BitScales.FindGroupScales(x, 15, -1f, 0.1f, 20, levels, aux, weights, scales, mins, out float maxScale, out float maxMin);
            KQuant6BitScales.Pack(b, OffsetD, OffsetDmin, OffsetScales, scales, mins, maxScale, maxMin);
            KQuant6BitScales.Requantize(x, b, OffsetD, OffsetDmin, OffsetScales, 15, levels);

            var qs = b.Slice(OffsetQs, 128);
            for (int j = 0; j < BlockSize; j += 64)
            {
                for (int l = 0; l < 32; l++) qs[j / 2 + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 4));
            }
        }
    }
}
