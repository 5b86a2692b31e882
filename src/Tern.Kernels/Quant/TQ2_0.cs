namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_tq2_0 (ternary, 2.0625 bits per weight): 256 weights x = d·(q − 1), q in {0, 1, 2}.
/// Layout (66 bytes): qs[64] | d (f16). In each 32-byte half, bit pair l of byte m is weight 128·half + 32·l + m.
/// </summary>
public static class TQ2_0
{
    public const int BlockSize = 256;
    public const int BlockBytes = 66;
    public const int OffsetQs = 0;
    public const int OffsetD = 64;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            int o = 0;
            for (int j = 0; j < 64; j += 32)
            {
                for (int l = 0; l < 4; l++)
                {
                    for (int m = 0; m < 32; m++) y[o++] = (float)(((b[OffsetQs + j + m] >> (2 * l)) & 3) - 1) * d;
                }
            }
        }
    }

    /// <summary>quantize_row_tq2_0_ref: d = amax, q = round-half-away(x/d) + 1.</summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);

            float amax = 0;
            for (int j = 0; j < BlockSize; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            float d = amax;
            float id = d != 0 ? 1.0f / d : 0.0f;
            F16.Write(b, OffsetD, d);

            for (int j = 0; j < 64; j += 32)
            {
                for (int m = 0; m < 32; m++)
                {
                    int q = 0;
                    for (int n = 0; n < 4; n++)
                    {
                        int xi = (int)MathF.Round(x[4 * j + m + 32 * n] * id, MidpointRounding.AwayFromZero) + 1;
                        q += (xi & 3) << (2 * n);
                    }

                    b[OffsetQs + j + m] = (byte)q;
                }
            }
        }
    }
}
