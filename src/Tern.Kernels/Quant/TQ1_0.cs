namespace Tern.Kernels.Quant;

/// <summary>
/// ggml block_tq1_0 (ternary, 1.6875 bits per weight): 256 weights x = d·t, t in {−1, 0, 1}, stored base 3.
/// Layout (54 bytes): qs[48] (5 trits per byte) | qh[4] (4 trits per byte) | d (f16).
/// A byte holds trits t0..t4 as ceil(256·(Σ (t_k+1)·3^(4−k)) / 243), so trit k is the top "digit" of byte·3^k:
/// ((byte·3^k mod 256)·3) >> 8. Weights: qs[0..31] hold 0..159 (trit n of byte m is weight 32n + m),
/// qs[32..47] hold 160..239 (16n + m), qh[0..3] hold 240..255 (trit n of byte j is weight 240 + 4n + j).
/// </summary>
public static class TQ1_0
{
    public const int BlockSize = 256;
    public const int BlockBytes = 54;
    public const int OffsetQs = 0;
    public const int OffsetQh = 48;
    public const int OffsetD = 52;

    private static ReadOnlySpan<byte> Pow3 => [1, 3, 9, 27, 81, 243];

    /// <summary>Trit n (0..4) of a base-3 packed byte, as −1, 0 or 1.</summary>
    public static int Trit(byte packed, int n) => ((byte)(packed * Pow3[n]) * 3 >> 8) - 1;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int nb = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < nb; i++)
        {
            var b = blocks.Slice(i * BlockBytes, BlockBytes);
            var y = output.Slice(i * BlockSize, BlockSize);
            float d = F16.Read(b, OffsetD);
            int o = 0;
            for (int n = 0; n < 5; n++)
            {
                for (int m = 0; m < 32; m++) y[o++] = (float)Trit(b[OffsetQs + m], n) * d;
            }

            for (int n = 0; n < 5; n++)
            {
                for (int m = 0; m < 16; m++) y[o++] = (float)Trit(b[OffsetQs + 32 + m], n) * d;
            }

            for (int n = 0; n < 4; n++)
            {
                for (int j = 0; j < 4; j++) y[o++] = (float)Trit(b[OffsetQh + j], n) * d;
            }
        }
    }

    /// <summary>quantize_row_tq1_0_ref: d = amax, t = round-half-away(x/d).</summary>
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

            for (int m = 0; m < 32; m++) b[OffsetQs + m] = Pack(x, m, 32, 5, id);
            for (int m = 0; m < 16; m++) b[OffsetQs + 32 + m] = Pack(x[160..], m, 16, 5, id);
            for (int j = 0; j < 4; j++) b[OffsetQh + j] = Pack(x[240..], j, 4, 4, id);
        }
    }

    /// <summary>Packs <paramref name="count"/> trits x[first + k·stride] most significant first, padded to 5 trits, as a ceil-scaled byte.</summary>
    private static byte Pack(ReadOnlySpan<float> x, int first, int stride, int count, float id)
    {
        int q = 0;
        for (int k = 0; k < count; k++)
        {
            q = q * 3 + (int)MathF.Round(x[first + k * stride] * id, MidpointRounding.AwayFromZero) + 1;
        }

        for (int k = count; k < 5; k++) q *= 3;
        return (byte)((q * 256 + (243 - 1)) / 243);
    }
}
