using System.Runtime.InteropServices;

namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q3_K: 256 weights in 16 groups of 16, x = d·(sc − 32)·(q − 4), q in 0..7, sc 6-bit per group.
/// Layout (110 bytes): hmask[32] | qs[64] | scales[12] | d (f16).
/// Low 2 bits of q in qs as in Q2_K; bit 2 of weight 32k + l is bit k of hmask[l] (set means "no −4").
/// Scales: low nibbles of sc 0..7 in scales[0..7] low, sc 8..15 in scales[0..7] high; top 2 bits of sc j in scales[8 + j%4] bits 2·(j/4).
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
public static class Q3_K
{
    public const int BlockSize = 256;
    public const int BlockBytes = 110;
    public const int OffsetHmask = 0;
    public const int OffsetQs = 32;
    public const int OffsetScales = 96;
    public const int OffsetD = 108;

    /// <summary>The signed 6-bit scale (−32..31) of group <paramref name="j"/> (0..15).</summary>
    public static int GetScale(ReadOnlySpan<byte> scales, int j)
    {
        int sc = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
        return (sc | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
    }

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        Span<int> sc = stackalloc int[16];
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float dAll = F16.Read(b, OffsetD);
            var hm = b.Slice(OffsetHmask, 32);
            var scales = b.Slice(OffsetScales, 12);
            for (int j = 0; j < 16; j++) sc[j] = GetScale(scales, j);

            int o = 0, si = 0, m = 1;
            for (int n = 0; n < BlockSize; n += 128)
            {
                var q = b.Slice(OffsetQs + n / 4, 32);
                for (int shift = 0; shift < 8; shift += 2)
                {
                    float dl = dAll * sc[si++];
                    for (int l = 0; l < 16; l++) y[o++] = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) != 0 ? 0 : 4));

                    dl = dAll * sc[si++];
                    for (int l = 0; l < 16; l++) y[o++] = dl * (((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) != 0 ? 0 : 4));

                    m <<= 1;
                }
            }
        }
    }

    /// <summary>quantize_row_q3_K_ref: per group make_q3_quants(16, 4) with coordinate descent, then 6-bit signed scales.</summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        Span<sbyte> levels = stackalloc sbyte[BlockSize];
        Span<float> scales = stackalloc float[16];

        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var bs = b.Slice(OffsetScales, 12);

            float maxScale = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = ScaleSearch.MakeQ3Quants(16, 4, x.Slice(16 * j, 16), levels.Slice(16 * j, 16), true);
                float scale = MathF.Abs(scales[j]);
                if (scale > amax)
                {
                    amax = scale;
                    maxScale = scales[j];
                }
            }

            bs.Clear();
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++)
                {
                    int l = (sbyte)ScaleSearch.NearestInt(iscale * scales[j]);
                    l = Math.Max(-32, Math.Min(31, l)) + 32;
                    if (j < 8) bs[j] = (byte)(l & 0xF);
                    else bs[j - 8] |= (byte)((l & 0xF) << 4);
                    l >>= 4;
                    bs[j % 4 + 8] |= (byte)(l << (2 * (j / 4)));
                }

                F16.Write(b, OffsetD, 1 / iscale);
            }
            else
            {
                F16.Write(b, OffsetD, 0f);
            }

            float dAll = F16.Read(b, OffsetD);
            for (int j = 0; j < 16; j++)
            {
                float d = dAll * GetScale(bs, j);
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++)
                {
                    int l = ScaleSearch.NearestInt(x[16 * j + ii] / d);
                    levels[16 * j + ii] = (sbyte)(Math.Max(-4, Math.Min(3, l)) + 4);
                }
            }

            // High bit of the first 32 weights goes to bit 0 of hmask[0..31], the next 32 to bit 1, and so on.
            var hmask = b.Slice(OffsetHmask, 32);
            hmask.Clear();
            var lv = MemoryMarshal.Cast<sbyte, byte>(levels);
            for (int j = 0; j < BlockSize; j++)
            {
                if (lv[j] > 3)
                {
                    hmask[j % 32] |= (byte)(1 << (j / 32));
                    lv[j] -= 4;
                }
            }

            var qs = b.Slice(OffsetQs, 64);
            for (int j = 0; j < BlockSize; j += 128)
            {
                for (int l = 0; l < 32; l++)
                {
                    qs[j / 4 + l] = (byte)(lv[j + l] | (lv[j + l + 32] << 2) | (lv[j + l + 64] << 4) | (lv[j + l + 96] << 6));
                }
            }
        }
    }
}
