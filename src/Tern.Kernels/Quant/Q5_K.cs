namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q5_K: 256 weights in 8 groups of 32, x = d·sc·q − dmin·m, q in 0..31, sc and m 6-bit per group.
/// Layout (176 bytes): d (f16) | dmin (f16) | scales[12] (as Q4_K) | qh[32] | qs[128] (low 4 bits, as Q4_K).
/// Bit 4 of weight 64k + l is bit 2k of qh[l]; of weight 64k + 32 + l, bit 2k+1 of qh[l].
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
public static class Q5_K
{
    public const int BlockSize = 256;
    public const int BlockBytes = 176;
    public const int OffsetD = 0;
    public const int OffsetDmin = 2;
    public const int OffsetScales = 4;
    public const int OffsetQh = 16;
    public const int OffsetQs = 48;

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
            var qh = b.Slice(OffsetQh, 32);

            int o = 0, si = 0, u1 = 1, u2 = 2;
            for (int j = 0; j < BlockSize; j += 64)
            {
                var ql = b.Slice(OffsetQs + j / 2, 32);
                var (sc1, m1) = ScaleSearch.GetScaleMinK4(si, scales);
                var (sc2, m2) = ScaleSearch.GetScaleMinK4(si + 1, scales);
                float d1 = d * sc1, min1 = min * m1;
                float d2 = d * sc2, min2 = min * m2;
                for (int l = 0; l < 32; l++) y[o++] = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - min1;
                for (int l = 0; l < 32; l++) y[o++] = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - min2;
                si += 2;
                u1 <<= 2;
                u2 <<= 2;
            }
        }
    }

    /// <summary>quantize_row_q5_K_ref: per group make_qkx2_quants(32, 31) weighted by rms + |x|, then 6-bit scales and mins.</summary>
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
            KQuant6BitScales.FindGroupScales(x, 31, -0.5f, 0.1f, 15, levels, aux, weights, scales, mins, out float maxScale, out float maxMin);
            KQuant6BitScales.Pack(b, OffsetD, OffsetDmin, OffsetScales, scales, mins, maxScale, maxMin);
            KQuant6BitScales.Requantize(x, b, OffsetD, OffsetDmin, OffsetScales, 31, levels);

            var qh = b.Slice(OffsetQh, 32);
            var qs = b.Slice(OffsetQs, 128);
            qh.Clear();
            int bit1 = 1, bit2 = 2;
            for (int n = 0; n < BlockSize; n += 64)
            {
                for (int j = 0; j < 32; j++)
                {
                    int l1 = levels[n + j];
                    if (l1 > 15)
                    {
                        l1 -= 16;
                        qh[j] |= (byte)bit1;
                    }

                    int l2 = levels[n + j + 32];
                    if (l2 > 15)
                    {
                        l2 -= 16;
                        qh[j] |= (byte)bit2;
                    }

                    qs[n / 2 + j] = (byte)(l1 | (l2 << 4));
                }

                bit1 <<= 2;
                bit2 <<= 2;
            }
        }
    }
}
