namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_mxfp4 (OCP microscaling FP4): 32 weights x = 2^(e−128)·v[q], q in 0..15, where v is E2M1 doubled
/// (<see cref="Values"/>), hence the halved scale. Layout (17 bytes): e (E8M0 exponent byte) | qs[16]; weight j sits
/// in the low nibble of qs[j], weight j+16 in its high nibble.
/// </summary>
public static class MXFP4
{
    public const int BlockSize = 32;
    public const int BlockBytes = 17;
    public const int OffsetE = 0;
    public const int OffsetQs = 1;

    /// <summary>ggml's kvalues_mxfp4: the E2M1 values {0, .5, 1, 1.5, 2, 3, 4, 6} and their negatives, doubled.</summary>
    public static ReadOnlySpan<sbyte> Values => [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

    /// <summary>
    /// ggml_e8m0_to_fp32_half: 2^(e−128), half the E8M0 value 2^(e−127) to match the doubled <see cref="Values"/>.
    /// Exact for every byte: e = 0 and 1 are the subnormals 2^−128 and 2^−127, e = 255 is 2^127 (never NaN).
    /// </summary>
    public static float HalfScale(byte e) => BitConverter.UInt32BitsToSingle(e < 2 ? 0x00200000u << e : (uint)(e - 1) << 23);

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        var values = Values;
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = HalfScale(b[OffsetE]);
            NibbleTable.Decode(b.Slice(OffsetQs, 16), values, d, y);
        }
    }

    /// <summary>
    /// quantize_row_mxfp4_ref: e = ⌊log2 max|x|⌋ − 2 + 127 (so the largest weight lands near ±6·2^(e−127)), then each
    /// weight to the nearest table value, the first in table order on a tie. ggml's cast of a negative exponent to
    /// uint8 is undefined (max|x| below 2^−125); here it is clamped to 0, the smallest scale.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);

            float amax = 0;
            for (int j = 0; j < BlockSize; j++)
            {
                if (amax < MathF.Abs(x[j]))
                {
                    amax = MathF.Abs(x[j]);
                }
            }

            byte e = amax > 0 ? (byte)Math.Clamp(MathF.Floor(MathF.Log2(amax)) - 2 + 127, 0, 255) : (byte)0;
            float d = HalfScale(e);
            b[OffsetE] = e;

            var qs = b.Slice(OffsetQs, 16);
            for (int j = 0; j < 16; j++)
            {
                qs[j] = (byte)(Nearest(x[j], d) | Nearest(x[j + 16], d) << 4);
            }
        }
    }

    /// <summary>best_index_mxfp4: the index of the table value v minimizing |v·d − x|, the first on a tie.</summary>
    private static int Nearest(float x, float d)
    {
        var values = Values;
        int best = 0;
        float bestError = MathF.Abs(values[0] * d - x);
        for (int i = 1; i < 16; i++)
        {
            float error = MathF.Abs(values[i] * d - x);
            if (error < bestError)
            {
                best = i;
                bestError = error;
            }
        }

        return best;
    }
}
