using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Tern.Kernels.Quant;

/// <summary>bfloat16: the top 16 bits of a float32; one element, two bytes.</summary>
public static class BF16
{
    public const int BlockSize = 1;
    public const int BlockBytes = 2;

    /// <summary>Exact: bf16 is a float32 with the low 16 mantissa bits cut off.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>
    /// Round to nearest, ties to even, as ggml_compute_fp32_to_bf16: NaNs stay NaN (forced quiet),
    /// subnormals are rounded like any other value, large finite values may round to infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7fffffff) > 0x7f800000)
        {
            return (ushort)((u >> 16) | 64);
        }

        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int n = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        for (int i = 0; i < n; i++)
        {
            output[i] = ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(blocks[(2 * i)..]));
        }
    }

    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        int n = BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        for (int i = 0; i < n; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(blocks[(2 * i)..], FromFloat(input[i]));
        }
    }
}
