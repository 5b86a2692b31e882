using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// A weight matrix [Rows, Cols] (Cols contiguous) in the mapped file, kept in its quantized form. A 3-D expert
/// tensor is <see cref="Experts"/> such matrices one after another.
/// </summary>
public sealed unsafe class Weight
{
    internal Weight(string name, QuantType type, int rows, int cols, int experts, byte* address)
    {
        Name = name;
        Type = type;
        Rows = rows;
        Cols = cols;
        Experts = experts;
        Address = address;
    }

    public string Name { get; }
    public QuantType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int Experts { get; }
    public long RowBytes => Type.RowBytes(Cols);
    internal byte* Address { get; }

    /// <summary>Start of expert <paramref name="e"/>'s [Rows, Cols] matrix.</summary>
    internal byte* Expert(int e) => Address + e * Rows * RowBytes;

    /// <summary>Row <paramref name="r"/> as floats (an embedding lookup).</summary>
    public void DequantizeRow(int r, Span<float> output) =>
        Type.ToFloat(new ReadOnlySpan<byte>(Address + r * RowBytes, checked((int)RowBytes)), output[..Cols]);
}
