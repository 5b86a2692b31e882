using System.Runtime.InteropServices;

namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q6_K: 256 weights in 16 groups of 16, x = d·sc·(q − 32), q in 0..63, sc int8 per group.
/// Layout (210 bytes): ql[128] (low 4 bits) | qh[64] (high 2 bits) | scales[16] (int8) | d (f16).
/// Per half of 128 weights (ql += 64, qh += 32): for l in 0..31, weight l is ql[l] low | qh[l] bits 0-1,
/// l+32 is ql[l+32] low | bits 2-3, l+64 is ql[l] high | bits 4-5, l+96 is ql[l+32] high | bits 6-7.
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
public static class Q6_K
{
    public const int BlockSize = 256;
    public const int BlockBytes = 210;
    public const int OffsetQl = 0;
    public const int OffsetQh = 128;
    public const int OffsetScales = 192;
    public const int OffsetD = 208;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            float d = F16.Read(b, OffsetD);
            for (int n = 0; n < BlockSize; n += 128)
            {
                var y = output.Slice(i * BlockSize + n, 128);
                var ql = b.Slice(OffsetQl + n / 2, 64);
                var qh = b.Slice(OffsetQh + n / 4, 32);
                var sc = MemoryMarshal.Cast<byte, sbyte>(b.Slice(OffsetScales + n / 16, 8));
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * sc[s] * q1;
                    y[l + 32] = d * sc[s + 2] * q2;
                    y[l + 64] = d * sc[s + 4] * q3;
                    y[l + 96] = d * sc[s + 6] * q4;
                }
            }
        }
    }

    /// <summary>quantize_row_q6_K_ref: per group make_qx_quants(16, 32, rmse 1), then int8 scales (largest maps to −128).</summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        Span<sbyte> levels = stackalloc sbyte[BlockSize];
        Span<float> scales = stackalloc float[16];

        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);

            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < 16; ib++)
            {
                float scale = ScaleSearch.MakeQxQuants(16, 32, x.Slice(16 * ib, 16), levels.Slice(16 * ib, 16), 1, default);
                scales[ib] = scale;
                float absScale = MathF.Abs(scale);
                if (absScale > maxAbsScale)
                {
                    maxAbsScale = absScale;
                    maxScale = scale;
                }
            }

            if (maxAbsScale < ScaleSearch.GroupMaxEps)
            {
                b.Clear();
                continue;
            }

            float iscale = -128f / maxScale;
            F16.Write(b, OffsetD, 1 / iscale);
            var bs = MemoryMarshal.Cast<byte, sbyte>(b.Slice(OffsetScales, 16));
            for (int ib = 0; ib < 16; ib++)
            {
                bs[ib] = (sbyte)Math.Min(127, ScaleSearch.NearestInt(iscale * scales[ib]));
            }

            float dAll = F16.Read(b, OffsetD);
            for (int j = 0; j < 16; j++)
            {
                float d = dAll * bs[j];
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = ScaleSearch.NearestInt(x[16 * j + ii] / d);
                    levels[16 * j + ii] = (sbyte)(Math.Max(-32, Math.Min(31, l)) + 32);
                }
            }

            var lv = MemoryMarshal.Cast<sbyte, byte>(levels);
            for (int j = 0; j < BlockSize; j += 128)
            {
                var ql = b.Slice(OffsetQl + j / 2, 64);
                var qh = b.Slice(OffsetQh + j / 4, 32);
                for (int l = 0; l < 32; l++)
                {
                    int q1 = lv[j + l] & 0xF;
                    int q2 = lv[j + l + 32] & 0xF;
                    int q3 = lv[j + l + 64] & 0xF;
                    int q4 = lv[j + l + 96] & 0xF;
                    ql[l] = (byte)(q1 | (q3 << 4));
                    ql[l + 32] = (byte)(q2 | (q4 << 4));
                    qh[l] = (byte)((lv[j + l] >> 4) | ((lv[j + l + 32] >> 4) << 2) | ((lv[j + l + 64] >> 4) << 4) | ((lv[j + l + 96] >> 4) << 6));
                }
            }
        }
    }
}
