using System.Buffers.Binary;
using Tern.Gguf;

namespace Tern.Kernels.Tests;

/// <summary>Cached K/V rows in F16, Q8_0 and Q4_0: the vector widening against its scalar twin, and the store's layout.</summary>
public sealed class KvRowsTests
{
    [Theory]
    [InlineData(GgmlType.F16, 64)]
    [InlineData(GgmlType.F16, 40)]
    [InlineData(GgmlType.Q8_0, 64)]
    [InlineData(GgmlType.Q8_0, 128)]
    [InlineData(GgmlType.Q4_0, 64)]
    [InlineData(GgmlType.Q4_0, 128)]
    public void Vector_widening_gives_the_scalar_twins_floats_bit_for_bit(GgmlType type, int d)
    {
        var random = new Random(d + (int)type);
        const int rows = 37;
        int stride = KvRows.RowBytes(type, d) * 3; // the head's slice inside wider rows
        var source = new byte[rows * stride];
        random.NextBytes(source);
        // Every scale (and every F16 element) a finite half: random bits would make NaNs, whose payloads may differ.
        int step = type == GgmlType.F16 ? 2 : KvRows.RowBytes(type, 32);
        for (int i = 0; i < source.Length; i += step)
            BinaryPrimitives.WriteUInt16LittleEndian(source.AsSpan(i), BitConverter.HalfToUInt16Bits((Half)((random.NextDouble() * 2 - 1) * 8)));

        var fast = new float[rows * d];
        var scalar = new float[rows * d];
        KvRows.Widen(type, source, stride, rows, d, fast);
        KvRows.WidenScalar(type, source, stride, rows, d, scalar);
        Assert.Equal(scalar, fast);
        Assert.Contains(scalar, x => x != 0);
    }

    [Theory]
    [InlineData(GgmlType.F16, 1e-3)]
    [InlineData(GgmlType.Q8_0, 1e-2)]
    [InlineData(GgmlType.Q4_0, 0.15)]
    public void A_stored_row_reads_back_within_its_types_precision(GgmlType type, double tolerance)
    {
        var random = new Random(11);
        var row = Enumerable.Range(0, 256).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var bytes = new byte[KvRows.RowBytes(type, row.Length)];
        KvRows.Store(type, row, bytes);
        var back = new float[row.Length];
        KvRows.Widen(type, bytes, bytes.Length, 1, row.Length, back);
        for (int i = 0; i < row.Length; i++)
            Assert.True(Math.Abs(back[i] - row[i]) <= tolerance, $"{type} element {i}: {row[i]} came back as {back[i]}");
        Assert.Equal(type switch { GgmlType.F16 => 256 * 2, GgmlType.Q8_0 => 8 * 34, _ => 8 * 18 }, bytes.Length); // ggml's block sizes
    }

    [Fact]
    public void Source_too_short_is_rejected() =>
        Assert.Throws<ArgumentException>(() => KvRows.Widen(GgmlType.Q8_0, new byte[60], 68, 2, 64, new float[128]));
}
