using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models.Synthesis;

/// <summary>
/// Random blocks quantized once, from which rows of the slow-to-quantize K-quant types are assembled: llama.cpp's
/// reference K-quant quantizers search for scales and run at roughly 10 M weights/s per core, which would make a
/// Q4_K_M llama-8b take a quarter of an hour on two cores. Every block is a genuine quantization of random values, so
/// rows dequantize to the same distribution; which blocks a row holds is random per (seed, tensor, row).
/// </summary>
internal sealed class QuantizedBlockPool
{
    public const int BlockCount = 4096;

    private readonly byte[] _blocks;

    public QuantizedBlockPool(QuantType quant, ulong seed, bool ternary)
    {
        Type = quant.Type;
        BlockBytes = quant.BytesPerBlock;
        _blocks = new byte[(long)BlockCount * BlockBytes];
        var quantize = quant.FromFloat ?? throw new NotSupportedException($"Tern cannot quantize to {quant.Type}");
        ulong key = RandomWeights.TensorKey($"pool.{quant.Type}.{(ternary ? "ternary" : "normal")}");
        int blockSize = quant.BlockSize;
        Parallel.For(0, Environment.ProcessorCount * 4, () => new float[blockSize], (part, _, values) =>
        {
            int parts = Environment.ProcessorCount * 4;
            for (int b = BlockCount * part / parts; b < BlockCount * (part + 1) / parts; b++)
            {
                if (ternary)
                    RandomWeights.Ternary(seed, key, b, values);
                else
                    RandomWeights.Normal(seed, key, b, values);
                quantize(values, _blocks.AsSpan(b * BlockBytes, BlockBytes));
            }
            return values;
        }, _ => { });
    }

    public GgmlType Type { get; }

    public int BlockBytes { get; }

    /// <summary>Fills <paramref name="row"/> (whole blocks) with pool blocks chosen by (seed, tensor, row).</summary>
    public void FillRow(ulong seed, ulong tensorKey, long row, Span<byte> output)
    {
        int blocks = output.Length / BlockBytes;
        Span<int> picks = blocks <= 256 ? stackalloc int[blocks] : new int[blocks];
        RandomWeights.Indices(seed, tensorKey, row, picks, BlockCount);
        for (int i = 0; i < blocks; i++)
            _blocks.AsSpan(picks[i] * BlockBytes, BlockBytes).CopyTo(output.Slice(i * BlockBytes, BlockBytes));
    }

    /// <summary>The K-quants: their reference quantizers are far slower than writing the file.</summary>
    public static bool IsWorthUsing(GgmlType type) => type is GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;
}
