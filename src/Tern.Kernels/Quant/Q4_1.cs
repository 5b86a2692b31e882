namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q4_1: 32 weights x = d·q + m, q in 0..15.
/// Layout (20 bytes): d (f16) | m (f16) | qs[16]; weight j in the low nibble of qs[j], weight j+16 in the high nibble.
/// </summary>
public static class Q4_1
{
    public const int BlockSize = 32;
    public const int BlockBytes = 20;
    public const int OffsetD = 0;
    public const int OffsetM = 2;
    public const int OffsetQs = 4;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            float m = F16.Read(b, OffsetM);
            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                int x0 = qs[j] & 0x0F;
                int x1 = qs[j] >> 4;
                y[j] = x0 * d + m;
                y[j + 16] = x1 * d + m;
            }
        }
    }

    /// <summary>quantize_row_q4_1_ref: min and max of the block map to 0 and 15.</summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);

            float min = float.MaxValue, max = -float.MaxValue;
            for (int j = 0; j < BlockSize; j++)
            {
                if (x[j] < min) min = x[j];
                if (x[j] > max) max = x[j];
            }

            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            F16.Write(b, OffsetD, d);
            F16.Write(b, OffsetM, min);

            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                int xi0 = Math.Min(15, (int)(sbyte)((x[j] - min) * id + 0.5f));
                int xi1 = Math.Min(15, (int)(sbyte)((x[j + 16] - min) * id + 0.5f));
                qs[j] = (byte)(xi0 | (xi1 << 4));
            }
        }
    }
}
