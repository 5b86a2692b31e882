namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_iq4_nl (non-linear 4-bit): 32 weights x = d·Values[q], q in 0..15 indexing a fixed table.
/// Layout (18 bytes): d (f16) | qs[16]; weight j sits in the low nibble of qs[j], weight j+16 in its high nibble.
/// </summary>
public static class IQ4_NL
{
    public const int BlockSize = 32;
    public const int BlockBytes = 18;
    public const int OffsetD = 0;
    public const int OffsetQs = 2;

    /// <summary>ggml's kvalues_iq4nl: the 16 levels a nibble selects, denser near zero (shared with IQ4_XS).</summary>
    public static ReadOnlySpan<sbyte> Values => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        var values = Values;
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            NibbleTable.Decode(b.Slice(OffsetQs, 16), values, d, y);
        }
    }

    /// <summary>
    /// What llama-quantize writes without an importance matrix (quantize_iq4_nl): per block, the scale that best
    /// fits the table in weighted least squares (weights x²) among 16 candidates, then each weight's nearest level.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int nb = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        Span<float> scale = stackalloc float[1];
        Span<byte> levels = stackalloc byte[BlockSize];
        for (int i = 0; i < nb; i++)
        {
            var x = input.Slice(i * BlockSize, BlockSize);
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            IQ4Search.FindScales(x, scale);
            float d = scale[0];
            F16.Write(b, OffsetD, d);
            // Levels against the unrounded scale, as ggml.
            IQ4Search.NearestLevels(x, d != 0 ? 1 / d : 0f, levels);
            IQ4Search.Pack(levels, b.Slice(OffsetQs, 16));
        }
    }
}
