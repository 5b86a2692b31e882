using System.Runtime.InteropServices;

namespace Tern.Kernels.Quant;

/// <summary>Plain little-endian float32: one element, four bytes.</summary>
public static class F32
{
    public const int BlockSize = 1;
    public const int BlockBytes = 4;

    public static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> output)
    {
        int n = BlockCount.ForDequantize(blocks.Length, output.Length, BlockSize, BlockBytes);
        MemoryMarshal.Cast<byte, float>(blocks[..(n * BlockBytes)]).CopyTo(output);
    }

    public static void Quantize(ReadOnlySpan<float> input, Span<byte> blocks)
    {
        BlockCount.ForQuantize(input.Length, blocks.Length, BlockSize, BlockBytes);
        MemoryMarshal.AsBytes(input).CopyTo(blocks);
    }
}
