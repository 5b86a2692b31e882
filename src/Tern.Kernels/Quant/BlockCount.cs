namespace Tern.Kernels.Quant;

/// <summary>Argument checks shared by the row (de)quantizers: how many whole blocks a call covers.</summary>
internal static class BlockCount
{
    /// <summary>Blocks needed to produce <paramref name="elements"/> floats; checks both spans are large enough.</summary>
    public static int ForDequantize(int blockBytesAvailable, int elements, int blockSize, int blockBytes)
    {
        if (elements % blockSize != 0)
        {
            throw new ArgumentException($"output length {elements} is not a multiple of the block size {blockSize}", "output");
        }

        int blocks = elements / blockSize;
        if ((long)blocks * blockBytes > blockBytesAvailable)
        {
            throw new ArgumentException($"{blocks} blocks need {(long)blocks * blockBytes} bytes, got {blockBytesAvailable}", "blocks");
        }

        return blocks;
    }

    /// <summary>Blocks produced from <paramref name="elements"/> floats; checks the destination is large enough.</summary>
    public static int ForQuantize(int elements, int blockBytesAvailable, int blockSize, int blockBytes)
    {
        if (elements % blockSize != 0)
        {
            throw new ArgumentException($"input length {elements} is not a multiple of the block size {blockSize}", "input");
        }

        int blocks = elements / blockSize;
        if ((long)blocks * blockBytes > blockBytesAvailable)
        {
            throw new ArgumentException($"{blocks} blocks need {(long)blocks * blockBytes} bytes, got {blockBytesAvailable}", "blocks");
        }

        return blocks;
    }
}
