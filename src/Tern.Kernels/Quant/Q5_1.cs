using System.Buffers.Binary;

namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q5_1: 32 weights x = d·q + m, q in 0..31.
/// Layout (24 bytes): d (f16) | m (f16) | qh (u32, bit j = 5th bit of weight j) | qs[16] (low nibbles as in Q4_1).
/// </summary>
public static class Q5_1
{
    public const int BlockSize = 32;
    public const int BlockBytes = 24;
    public const int OffsetD = 0;
    public const int OffsetM = 2;
    public const int OffsetQh = 4;
    public const int OffsetQs = 8;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            float m = F16.Read(b, OffsetM);
            uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[OffsetQh..]);
            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                int xh0 = (int)((qh >> j) << 4) & 0x10;
                int xh1 = (int)(qh >> (j + 12)) & 0x10;
                int x0 = (qs[j] & 0x0F) | xh0;
                int x1 = (qs[j] >> 4) | xh1;
                y[j] = x0 * d + m;
                y[j + 16] = x1 * d + m;
            }
        }
    }

    /// <summary>quantize_row_q5_1_ref: min and max of the block map to 0 and 31.</summary>
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

            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            F16.Write(b, OffsetD, d);
            F16.Write(b, OffsetM, min);

            uint qh = 0;
            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                // (uint8_t) truncation, no clamp: the reference relies on (max − min)·id ≤ 31.
                int xi0 = (byte)((x[j] - min) * id + 0.5f);
                int xi1 = (byte)((x[j + 16] - min) * id + 0.5f);
                qs[j] = (byte)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                qh |= (uint)((xi0 & 0x10) >> 4) << j;
                qh |= (uint)((xi1 & 0x10) >> 4) << (j + 16);
            }

            BinaryPrimitives.WriteUInt32LittleEndian(b[OffsetQh..], qh);
        }
    }
}
