namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q4_0: 32 weights x = d·(q − 8), q in 0..15.
/// Layout (18 bytes): d (f16) | qs[16]; weight j sits in the low nibble of qs[j], weight j+16 in its high nibble.
/// </summary>
public static class Q4_0
{
    public const int BlockSize = 32;
    public const int BlockBytes = 18;
    public const int OffsetD = 0;
    public const int OffsetQs = 2;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                int x0 = (qs[j] & 0x0F) - 8;
                int x1 = (qs[j] >> 4) - 8;
                y[j] = x0 * d;
                y[j + 16] = x1 * d;
            }
        }
    }

    /// <summary>quantize_row_q4_0_ref: the largest-magnitude weight maps to −8.</summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);

            float amax = 0, max = 0;
            for (int j = 0; j < BlockSize; j++)
            {
                if (amax < MathF.Abs(x[j]))
                {
                    amax = MathF.Abs(x[j]);
                    max = x[j];
                }
            }

            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            F16.Write(b, OffsetD, d);

            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                // (int8_t) truncation toward zero, then clamp, exactly as the reference.
                int xi0 = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
                int xi1 = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
                qs[j] = (byte)(xi0 | (xi1 << 4));
            }
        }
    }
}
