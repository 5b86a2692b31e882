using System.Runtime.InteropServices;
using Tern.Kernels;
using Tern.Kernels.Dot;

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

    /// <summary>The matrix repacked by <see cref="InterleavedQ4_0"/> (Q4_0 matrices used as linear layers), else null.</summary>
    internal byte* Interleaved { get; private set; }

    internal bool IsInterleaved => Interleaved != null;

    /// <summary>Builds <see cref="Interleaved"/> in memory owned by this weight until <see cref="FreeInterleaved"/>.</summary>
    internal void Interleave()
    {
        var bytes = InterleavedQ4_0.Bytes(Rows, Cols);
        var target = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        var groupBytes = bytes / InterleavedQ4_0.Groups(Rows);
        var rowBytes = RowBytes;
        // Groups of rows are repacked a slice of the matrix at a time, so matrices over 2 GB need no single span.
        Parallel.For(0, InterleavedQ4_0.Groups(Rows), g =>
        {
            var first = g * InterleavedQ4_0.GroupRows;
            var rows = Math.Min(InterleavedQ4_0.GroupRows, Rows - first);
            var source = new ReadOnlySpan<byte>(Address + first * rowBytes, checked((int)(rows * rowBytes)));
            InterleavedQ4_0.Repack(source, rows, Cols, 0, new Span<byte>(target + g * groupBytes, checked((int)groupBytes)));
        });
        Interleaved = target;
    }

    internal void FreeInterleaved()
    {
        NativeMemory.AlignedFree(Interleaved);
        Interleaved = null;
    }

    /// <summary>Start of expert <paramref name="e"/>'s [Rows, Cols] matrix.</summary>
    internal byte* Expert(int e) => Address + e * Rows * RowBytes;

    /// <summary>Row <paramref name="r"/> as floats (an embedding lookup).</summary>
    public void DequantizeRow(int r, Span<float> output) =>
        Type.ToFloat(new ReadOnlySpan<byte>(Address + r * RowBytes, checked((int)RowBytes)), output[..Cols]);
}
