using Tern.Gguf;

namespace Tern.Kernels;

/// <summary>Dequantizes whole blocks: <paramref name="output"/>.Length = blocks × block size.</summary>
public delegate void DequantizeRow(ReadOnlySpan<byte> blocks, Span<float> output);

/// <summary>Quantizes <paramref name="input"/> (a multiple of the block size) into blocks.</summary>
public delegate void QuantizeRow(ReadOnlySpan<float> input, Span<byte> blocks);

/// <summary>Dot product of a weight row with an activation row of the paired activation type (same element count).</summary>
public delegate float DotRow(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);

/// <summary>Everything the engine needs to know about one element type; one row per type in <see cref="QuantTypes"/>.</summary>
public sealed record QuantType(
    GgmlType Type,
    int BlockSize,
    int BytesPerBlock,
    DequantizeRow ToFloat,
    QuantizeRow? FromFloat,
    GgmlType DotActivation,
    DotRow? Dot,
    DotRow? DotScalar)
{
    public long RowBytes(long elements) => elements / BlockSize * BytesPerBlock;
}

/// <summary>The one table of quant types (like ggml's type_traits).</summary>
public static class QuantTypes
{
    // Filled in by the Quant/ and Dot/ files.
    private static readonly Dictionary<GgmlType, QuantType> Table = new();

    public static IReadOnlyCollection<QuantType> All => Table.Values;

    public static bool IsSupported(GgmlType type) => Table.ContainsKey(type);

    public static QuantType Get(GgmlType type) =>
        Table.TryGetValue(type, out var q) ? q : throw new NotSupportedException($"tensor type {type} is not supported");
}
