using System.Runtime.InteropServices;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Benchmarks;

/// <summary>
/// Several copies of one random [rows, cols] weight matrix in native memory, together larger than the last-level
/// cache, so cycling through them reads weights from DRAM as decoding a real model does.
/// </summary>
public sealed unsafe class BenchmarkWeights : IDisposable
{
    /// <summary>Total size of all copies: about twice this machine's 260 MB L3.</summary>
    public const long ColdBytes = 512L << 20;

    private readonly byte*[] _copies;
    private int _next;

    public BenchmarkWeights(QuantType type, int rows, int cols, long totalBytes = ColdBytes, int seed = 1)
    {
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = type.RowBytes(cols);
        MatrixBytes = RowBytes * rows;

        var first = RandomMatrix(type, rows, cols, seed);
        var copies = (int)Math.Max(1, (totalBytes + MatrixBytes - 1) / MatrixBytes);
        _copies = new byte*[copies];
        for (var i = 0; i < copies; i++)
        {
            _copies[i] = (byte*)NativeMemory.AlignedAlloc((nuint)MatrixBytes, 64);
            first.CopyTo(new Span<byte>(_copies[i], first.Length));
        }
    }

    public QuantType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long RowBytes { get; }
    public long MatrixBytes { get; }
    public int Copies => _copies.Length;

    /// <summary>The next copy, round-robin: the one read longest ago, so not in cache.</summary>
    public byte* Next()
    {
        var p = _copies[_next];
        _next = _next + 1 == _copies.Length ? 0 : _next + 1;
        return p;
    }

    /// <summary>Quantized random floats in [-1, 1) (every block one the quantizer can produce); random bytes for a
    /// type without a quantizer.</summary>
    public static byte[] RandomMatrix(QuantType type, int rows, int cols, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[type.RowBytes(cols) * rows];
        if (type.FromFloat is null)
        {
            random.NextBytes(bytes);
            return bytes;
        }

        var row = new float[cols];
        var rowBytes = (int)type.RowBytes(cols);
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < cols; i++)
                row[i] = (float)(random.NextDouble() * 2 - 1);
            type.FromFloat(row, bytes.AsSpan(r * rowBytes, rowBytes));
        }

        return bytes;
    }

    public static float[] RandomFloats(int count, Random random)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }

    /// <summary>Weight types with a dot product in the kernel table, for [ParamsSource].</summary>
    public static IEnumerable<GgmlType> TypesWithDot() =>
        QuantTypes.All.Where(q => q.Dot is not null).Select(q => q.Type).Order();

    public void Dispose()
    {
        for (var i = 0; i < _copies.Length; i++)
        {
            NativeMemory.AlignedFree(_copies[i]);
            _copies[i] = null;
        }
    }
}
