using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Tern.Kernels.Quant;

/// <summary>IEEE half precision: one element, two bytes. Also the scale format of most quant blocks.</summary>
public static class F16
{
    public const int BlockSize = 1;
    public const int BlockBytes = 2;

    /// <summary>Exact widening of half bits to float (ggml's GGML_FP16_TO_FP32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>Round to nearest, ties to even, as ggml's GGML_FP32_TO_FP16 and F16C's vcvtps2ph.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>Reads the little-endian half at <paramref name="offset"/> as a float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ReadOnlySpan<byte> bytes, int offset) =>
        ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(bytes[offset..]));

    /// <summary>Rounds <paramref name="value"/> to half and writes it little-endian at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(Span<byte> bytes, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[offset..], FromFloat(value));

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int n = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < n; i++)
        {
            output[i] = Read(blocks, 2 * i);
        }
    }

    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int n = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < n; i++)
        {
            Write(blocks, 2 * i, input[i]);
        }
    }
}
