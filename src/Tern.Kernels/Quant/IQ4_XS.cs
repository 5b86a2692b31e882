using System.Buffers.Binary;

namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_iq4_xs: 256 weights in 8 sub-blocks of 32, x = d·(ls − 32)·Values[q] with the table of
/// <see cref="IQ4_NL.Values"/> and a 6-bit scale ls per sub-block.
/// Layout (136 bytes): d (f16) | scales_h (u16: 2 high bits of ls per sub-block) | scales_l[4] (4 low bits of ls,
/// sub-block 2k in the low nibble of byte k, 2k+1 in the high) | qs[128] (16 bytes per sub-block, as IQ4_NL's qs).
/// </summary>
public static class IQ4_XS
{
    public const int BlockSize = 256;
    public const int BlockBytes = 136;
    public const int OffsetD = 0;
    public const int OffsetScalesH = 2;
    public const int OffsetScalesL = 4;
    public const int OffsetQs = 8;

    /// <summary>The 6-bit scale ls (0..63, the weight multiplier is ls − 32) of sub-block <paramref name="ib"/> (0..7).</summary>
    public static int Scale(ReadOnlySpan<byte> block, int ib)
    {
        int high = BinaryPrimitives.ReadUInt16LittleEndian(block[OffsetScalesH..]);
        return ((block[OffsetScalesL + ib / 2] >> (4 * (ib % 2))) & 0x0F) | (((high >> (2 * ib)) & 3) << 4);
    }

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        var values = IQ4_NL.Values;
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            float d = F16.Read(b, OffsetD);
            for (int ib = 0; ib < 8; ib++)
            {
                float dl = d * (Scale(b, ib) - 32);
                NibbleTable.Decode(b.Slice(OffsetQs + 16 * ib, 16), values, dl, output.Slice(i * BlockSize + 32 * ib, 32));
            }
        }
    }

    /// <summary>
    /// What llama-quantize writes without an importance matrix (quantize_iq4_xs): each sub-block's best scale as for
    /// IQ4_NL, those scales quantized to 6 bits against one half scale, then each weight's nearest level.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        Span<float> scales = stackalloc float[8];
        Span<byte> levels = stackalloc byte[BlockSize];
        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            IQ4Search.FindScales(x, scales);

            // The sub-block scale of largest magnitude becomes −32 steps of d (as ggml: d = −max/32).
            float max = 0, amax = 0;
            foreach (float s in scales)
            {
                if (MathF.Abs(s) > amax)
                {
                    amax = MathF.Abs(s);
                    max = s;
                }
            }

            float d = -max / 32;
            F16.Write(b, OffsetD, d);
            float id = d != 0 ? 1 / d : 0f;
            int high = 0;
            Span<byte> low = b.Slice(OffsetScalesL, 4);
            low.Clear();
            for (int ib = 0; ib < 8; ib++)
            {
                int l = Math.Clamp(ScaleSearch.NearestInt(id * scales[ib]), -32, 31);
                float dl = d * l;
                float idl = dl != 0 ? 1 / dl : 0f;
                IQ4Search.NearestLevels(x.Slice(32 * ib, 32), idl, levels.Slice(32 * ib, 32));
                l += 32;
                low[ib / 2] |= (byte)((l & 0x0F) << (4 * (ib % 2)));
                high |= (l >> 4) << (2 * ib);
            }

            BinaryPrimitives.WriteUInt16LittleEndian(b[OffsetScalesH..], (ushort)high);
            IQ4Search.Pack(levels, b.Slice(OffsetQs, 128));
        }
    }
}
