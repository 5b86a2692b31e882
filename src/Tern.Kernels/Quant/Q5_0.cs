using System.Buffers.Binary;

namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_q5_0: 32 weights x = d·(q − 16), q in 0..31.
/// Layout (22 bytes): d (f16) | qh (u32, bit j = 5th bit of weight j) | qs[16] (low nibbles as in Q4_0).
/// </summary>
public static class Q5_0
{
    public const int BlockSize = 32;
    public const int BlockBytes = 22;
    public const int OffsetD = 0;
    public const int OffsetQh = 2;
    public const int OffsetQs = 6;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[OffsetQh..]);
            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                int xh0 = (int)((qh >> j) << 4) & 0x10;
                int xh1 = (int)(qh >> (j + 12)) & 0x10;
                int x0 = ((qs[j] & 0x0F) | xh0) - 16;
                int x1 = ((qs[j] >> 4) | xh1) - 16;
                y[j] = x0 * d;
                y[j + 16] = x1 * d;
            }
        }
    }

    /// <summary>quantize_row_q5_0_ref: the largest-magnitude weight maps to −16.</summary>
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

            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            F16.Write(b, OffsetD, d);

            uint qh = 0;
            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                int xi0 = Math.Min(31, (int)(sbyte)(x[j] * id + 16.5f));
                int xi1 = Math.Min(31, (int)(sbyte)(x[j + 16] * id + 16.5f));
                qs[j] = (byte)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                qh |= (uint)((xi0 & 0x10) >> 4) << j;
                qh |= (uint)((xi1 & 0x10) >> 4) << (j + 16);
            }

            BinaryPrimitives.WriteUInt32LittleEndian(b[OffsetQh..], qh);
        }
    }
}
