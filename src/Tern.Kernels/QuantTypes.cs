using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels;

/// <summary>Dequantizes whole blocks: <paramref name="output"/>.Length = blocks × block size.</summary>
public delegate void DequantizeRow(ReadOnlySpan<byte> blocks, Span<float> output);

/// <summary>Quantizes <paramref name="input"/> (a multiple of the block size) into blocks.</summary>
public delegate void QuantizeRow(ReadOnlySpan<float> input, Span<byte> blocks);

/// <summary>Dot product of a weight row with an activation row of the paired activation type (same element count).</summary>
public delegate float DotRow(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);

/// <summary>
/// Dot products of <paramref name="rows"/> weight rows (back to back in <paramref name="weights"/>) with
/// results.Length / rows activation rows (back to back, of the paired activation type):
/// results[r·tokens + t] = weight row r · activation row t. Each result is bit for bit the type's
/// <see cref="DotRow"/> of the same pair, so a token's output does not depend on the batch it runs in.
/// </summary>
public delegate void DotRows(ReadOnlySpan<byte> weights, int rows, ReadOnlySpan<byte> activations, Span<float> results);

/// <summary>Repacks rows [<paramref name="rows"/>, <paramref name="cols"/>] of a matrix (stored one after another) into
/// its group <paramref name="group"/> of a <see cref="RepackedLayout"/>.</summary>
public delegate void RepackRows(ReadOnlySpan<byte> matrix, int rows, int cols, int group, Span<byte> destination);

/// <summary>Per-block integers a repacked kernel needs from each activation row (one per activation block).</summary>
public delegate void ActivationOffsets(ReadOnlySpan<byte> activations, Span<int> offsets);

/// <summary>
/// output[t·stride + r] = row r · activation row t, for the first <paramref name="rows"/> rows of repacked groups and
/// every activation row (of the weight type's <see cref="QuantType.DotActivation"/>); <paramref name="offsets"/> holds
/// each row's <see cref="RepackedLayout.Offsets"/> (empty when the layout has none).
/// </summary>
public delegate void DotRepacked(ReadOnlySpan<byte> groups, int rows, ReadOnlySpan<byte> activations, ReadOnlySpan<int> offsets, Span<float> output, int stride);

/// <summary>
/// A weight type's repacked layout, chosen at load for matrices used as linear layers: rows interleaved
/// <paramref name="GroupRows"/> at a time (the last group padded with zero rows), one group-block of
/// <paramref name="GroupBlockBytes"/> per weight block of the row. Its kernel gives a token the same bits in every
/// batch, and its <paramref name="Scalar"/> twin the same bits as <paramref name="Dot"/>.
/// </summary>
/// <param name="Offsets">Optional per-activation-block integers the kernel takes (e.g. −8·Σy for Q4_0), made once
/// per activation row when it is quantized.</param>
public sealed record RepackedLayout(
    int GroupRows,
    int GroupBlockBytes,
    RepackRows Repack,
    DotRepacked Dot,
    DotRepacked Scalar,
    ActivationOffsets? Offsets = null)
{
    /// <summary>Groups needed for <paramref name="rows"/> rows.</summary>
    public int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;

    /// <summary>Bytes of one group of a matrix with <paramref name="blocks"/> weight blocks per row.</summary>
    public long GroupBytes(int blocks) => (long)blocks * GroupBlockBytes;
}

/// <summary>Everything the engine needs to know about one element type; one row per type in <see cref="QuantTypes"/>.</summary>
/// <param name="DotMulti">Optional multi-token dot for prompt processing (a tile of weight rows × activation rows,
/// each weight block unpacked once for several tokens); null where only <paramref name="Dot"/> exists.</param>
/// <param name="DotMultiScalar">The plain twin of <paramref name="DotMulti"/>.</param>
/// <param name="DotMultiTokens">Activation rows <paramref name="DotMulti"/> takes per pass: <see cref="MatMul"/> gives it
/// multiples of this many tokens; a remainder inside a call takes <paramref name="Dot"/> pair by pair.</param>
/// <param name="Repacked">Optional repacked layout for linear layers (see <see cref="RepackedLayout"/>).</param>
public sealed record QuantType(
    GgmlType Type,
    int BlockSize,
    int BytesPerBlock,
    DequantizeRow ToFloat,
    QuantizeRow? FromFloat,
    GgmlType DotActivation,
    DotRow? Dot,
    DotRow? DotScalar,
    DotRows? DotMulti = null,
    DotRows? DotMultiScalar = null,
    int DotMultiTokens = 0,
    RepackedLayout? Repacked = null)
{
    public long RowBytes(long elements) => elements / BlockSize * BytesPerBlock;

    /// <summary>Bytes of a [rows, cols] matrix in the <see cref="Repacked"/> layout.</summary>
    public long RepackedBytes(int rows, int cols) =>
        Repacked is { } layout ? layout.Groups(rows) * layout.GroupBytes(cols / BlockSize) : throw new NotSupportedException($"{Type} has no repacked layout");
}

/// <summary>The one table of quant types (like ggml's type_traits).</summary>
public static class QuantTypes
{
    // Activation-only types (Q8_1, Q8_K) name themselves as DotActivation and have no dot product.
    private static readonly QuantType[] Rows =
    [
        //  type            block size       bytes             to float          from float      dot activation dot           dot (scalar)
        new(GgmlType.F32,   F32.BlockSize,   F32.BlockBytes,   F32.Dequantize,   F32.Quantize,   GgmlType.F32,  DotF32.Dot,   DotF32.Scalar),
        new(GgmlType.F16,   F16.BlockSize,   F16.BlockBytes,   F16.Dequantize,   F16.Quantize,   GgmlType.F16,  DotF16.Dot,   DotF16.Scalar),
        new(GgmlType.BF16,  BF16.BlockSize,  BF16.BlockBytes,  BF16.Dequantize,  BF16.Quantize,  GgmlType.BF16, DotBF16.Dot,  DotBF16.Scalar),
        new(GgmlType.Q4_0,  Q4_0.BlockSize,  Q4_0.BlockBytes,  Q4_0.Dequantize,  Q4_0.Quantize,  GgmlType.Q8_0, DotQ4_0.Dot,  DotQ4_0.Scalar,  DotMultiQ4_0.Dot,  DotMultiQ4_0.Scalar,  DotMultiQ4_0.Tokens,  InterleavedQ4_0.Layout),
        new(GgmlType.Q4_1,  Q4_1.BlockSize,  Q4_1.BlockBytes,  Q4_1.Dequantize,  Q4_1.Quantize,  GgmlType.Q8_1, DotQ4_1.Dot,  DotQ4_1.Scalar),
        new(GgmlType.Q5_0,  Q5_0.BlockSize,  Q5_0.BlockBytes,  Q5_0.Dequantize,  Q5_0.Quantize,  GgmlType.Q8_0, DotQ5_0.Dot,  DotQ5_0.Scalar,  DotMultiQ5_0.Dot,  DotMultiQ5_0.Scalar,  DotMultiQ5_0.Tokens),
        new(GgmlType.Q5_1,  Q5_1.BlockSize,  Q5_1.BlockBytes,  Q5_1.Dequantize,  Q5_1.Quantize,  GgmlType.Q8_1, DotQ5_1.Dot,  DotQ5_1.Scalar),
        new(GgmlType.Q8_0,  Q8_0.BlockSize,  Q8_0.BlockBytes,  Q8_0.Dequantize,  Q8_0.Quantize,  GgmlType.Q8_0, DotQ8_0.Dot,  DotQ8_0.Scalar,  DotMultiQ8_0.Dot,  DotMultiQ8_0.Scalar,  DotMultiQ8_0.Tokens,  InterleavedQ8_0.Layout),
        new(GgmlType.Q8_1,  Q8_1.BlockSize,  Q8_1.BlockBytes,  Q8_1.Dequantize,  Q8_1.Quantize,  GgmlType.Q8_1, null,         null),
        new(GgmlType.Q2_K,  Q2_K.BlockSize,  Q2_K.BlockBytes,  Q2_K.Dequantize,  Q2_K.Quantize,  GgmlType.Q8_K, DotQ2_K.Dot,  DotQ2_K.Scalar),
        new(GgmlType.Q3_K,  Q3_K.BlockSize,  Q3_K.BlockBytes,  Q3_K.Dequantize,  Q3_K.Quantize,  GgmlType.Q8_K, DotQ3_K.Dot,  DotQ3_K.Scalar),
        new(GgmlType.Q4_K,  Q4_K.BlockSize,  Q4_K.BlockBytes,  Q4_K.Dequantize,  Q4_K.Quantize,  GgmlType.Q8_K, DotQ4_K.Dot,  DotQ4_K.Scalar,  DotMultiQ4_K.Dot,  DotMultiQ4_K.Scalar,  DotMultiQ4_K.Tokens,  InterleavedQ4_K.Layout),
        new(GgmlType.Q5_K,  Q5_K.BlockSize,  Q5_K.BlockBytes,  Q5_K.Dequantize,  Q5_K.Quantize,  GgmlType.Q8_K, DotQ5_K.Dot,  DotQ5_K.Scalar,  DotMultiQ5_K.Dot,  DotMultiQ5_K.Scalar,  DotMultiQ5_K.Tokens),
        new(GgmlType.Q6_K,  Q6_K.BlockSize,  Q6_K.BlockBytes,  Q6_K.Dequantize,  Q6_K.Quantize,  GgmlType.Q8_K, DotQ6_K.Dot,  DotQ6_K.Scalar,  DotMultiQ6_K.Dot,  DotMultiQ6_K.Scalar,  DotMultiQ6_K.Tokens),
        new(GgmlType.Q8_K,  Q8_K.BlockSize,  Q8_K.BlockBytes,  Q8_K.Dequantize,  Q8_K.Quantize,  GgmlType.Q8_K, null,         null),
        new(GgmlType.IQ4_NL, IQ4_NL.BlockSize, IQ4_NL.BlockBytes, IQ4_NL.Dequantize, IQ4_NL.Quantize, GgmlType.Q8_0, DotIQ4_NL.Dot, DotIQ4_NL.Scalar, DotMultiIQ4_NL.Dot, DotMultiIQ4_NL.Scalar, DotMultiIQ4_NL.Tokens),
        new(GgmlType.IQ4_XS, IQ4_XS.BlockSize, IQ4_XS.BlockBytes, IQ4_XS.Dequantize, IQ4_XS.Quantize, GgmlType.Q8_K, DotIQ4_XS.Dot, DotIQ4_XS.Scalar, DotMultiIQ4_XS.Dot, DotMultiIQ4_XS.Scalar, DotMultiIQ4_XS.Tokens, InterleavedIQ4_XS.Layout),
        new(GgmlType.TQ1_0, TQ1_0.BlockSize, TQ1_0.BlockBytes, TQ1_0.Dequantize, TQ1_0.Quantize, GgmlType.Q8_K, DotTQ1_0.Dot, DotTQ1_0.Scalar, Repacked: InterleavedTQ2_0.LayoutTQ1_0),
        new(GgmlType.TQ2_0, TQ2_0.BlockSize, TQ2_0.BlockBytes, TQ2_0.Dequantize, TQ2_0.Quantize, GgmlType.Q8_K, DotTQ2_0.Dot, DotTQ2_0.Scalar, DotMultiTQ2_0.Dot, DotMultiTQ2_0.Scalar, DotMultiTQ2_0.Tokens, InterleavedTQ2_0.Layout),
        new(GgmlType.MXFP4, MXFP4.BlockSize, MXFP4.BlockBytes, MXFP4.Dequantize, MXFP4.Quantize, GgmlType.Q8_0, DotMXFP4.Dot, DotMXFP4.Scalar, DotMultiMXFP4.Dot, DotMultiMXFP4.Scalar, DotMultiMXFP4.Tokens),
    ];

    private static readonly Dictionary<GgmlType, QuantType> Table = Rows.ToDictionary(r => r.Type);

    private static readonly IReadOnlyCollection<QuantType> ReadOnlyRows = Array.AsReadOnly(Rows);

    /// <summary>All rows, in table order.</summary>
    public static IReadOnlyCollection<QuantType> All => ReadOnlyRows;

    public static bool IsSupported(GgmlType type) => Table.ContainsKey(type);

    public static QuantType Get(GgmlType type) =>
        Table.TryGetValue(type, out var q) ? q : throw new NotSupportedException($"tensor type {type} is not supported");
}
