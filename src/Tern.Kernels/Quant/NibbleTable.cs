namespace Tern.Kernels.Quant;

/// <summary>
/// The 32-weight groups of IQ4_NL, IQ4_XS and MXFP4: 16 bytes of 4-bit indices into a 16-entry table, low nibbles
/// weights 0..15, high nibbles weights 16..31.
/// </summary>
internal static class NibbleTable
{
    /// <summary>The table entries of the 32 weights of <paramref name="qs"/> (16 bytes) into <paramref name="levels"/>.</summary>
    public static void Levels(ReadOnlySpan<byte> qs, ReadOnlySpan<sbyte> table, Span<int> levels)
    {
        for (int j = 0; j < 16; j++)
        {
            levels[j] = table[qs[j] & 0x0F];
            levels[j + 16] = table[qs[j] >> 4];
        }
    }

    /// <summary>The 32 weights of <paramref name="qs"/> (16 bytes): table entry × <paramref name="scale"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> qs, ReadOnlySpan<sbyte> table, float scale, Span<float> output)
    {
        for (int j = 0; j < 16; j++)
        {
            output[j] = table[qs[j] & 0x0F] * scale;
            output[j + 16] = table[qs[j] >> 4] * scale;
        }
    }
}
