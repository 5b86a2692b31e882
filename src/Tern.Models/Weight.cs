using System.Runtime.InteropServices;
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

    /// <summary>The matrix in its type's <see cref="QuantType.Repacked"/> layout (matrices used as linear layers), else null.</summary>
    internal byte* Repacked { get; private set; }

    internal bool IsRepacked => Repacked != null;

    /// <summary>Builds <see cref="Repacked"/> in memory owned by this weight until <see cref="FreeRepacked"/>.</summary>
    internal void Repack()
    {
        var layout = Type.Repacked ?? throw new InvalidOperationException($"{Name}: {Type.Type} has no repacked layout");
        var target = (byte*)NativeMemory.AlignedAlloc((nuint)Type.RepackedBytes(Rows, Cols), 64);
        var groupBytes = layout.GroupBytes(Cols / Type.BlockSize);
        var rowBytes = RowBytes;
        // Groups of rows are repacked a slice of the matrix at a time, so matrices over 2 GB need no single span.
        Parallel.For(0, layout.Groups(Rows), g =>
        {
            var first = g * layout.GroupRows;
            var rows = Math.Min(layout.GroupRows, Rows - first);
            var source = new ReadOnlySpan<byte>(Address + first * rowBytes, checked((int)(rows * rowBytes)));
            layout.Repack(source, rows, Cols, 0, new Span<byte>(target + g * groupBytes, checked((int)groupBytes)));
        });
        Repacked = target;
    }

    internal void FreeRepacked()
    {
        NativeMemory.AlignedFree(Repacked);
        Repacked = null;
    }

    /// <summary>Start of expert <paramref name="e"/>'s [Rows, Cols] matrix.</summary>
    internal byte* Expert(int e) => Address + e * Rows * RowBytes;

    /// <summary>Row <paramref name="r"/> as floats (an embedding lookup).</summary>
    public void DequantizeRow(int r, Span<float> output) =>
        Type.ToFloat(new ReadOnlySpan<byte>(Address + r * RowBytes, checked((int)RowBytes)), output[..Cols]);
}
