using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <summary>The 16 table entries in both 128-bit lanes, for vpshufb lookups (which look up within each lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Lanes(ReadOnlySpan<sbyte> table)
    {
        var lane = Vector128.Create(table);
        return Vector256.Create(lane, lane);
    }

    /// <summary>The 32 weights of the 16 bytes at <paramref name="qs"/> as signed table entries in element order
    /// (<paramref name="lanes"/> from <see cref="Lanes"/>). Requires AVX2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Lookup(ref byte qs, Vector256<sbyte> lanes, Vector256<byte> lowNibble)
    {
        var packed = Vector128.LoadUnsafe(ref qs);
        // Low nibbles are weights 0..15, high nibbles 16..31: one register of indices in element order, then looked up.
        var indices = Vector256.Create(packed, Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte()) & lowNibble;
        return Avx2.Shuffle(lanes, indices.AsSByte());
    }
}
