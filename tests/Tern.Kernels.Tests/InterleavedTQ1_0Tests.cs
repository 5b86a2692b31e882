using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>TQ1_0 rows decoded at repack into the ternary layout (<see cref="InterleavedTQ2_0.LayoutTQ1_0"/>) against
/// <see cref="DotTQ1_0.Scalar"/>.</summary>
public sealed class InterleavedTQ1_0Tests : InterleavedTernaryTests
{
    protected override GgmlType WeightType => GgmlType.TQ1_0;

    /// <summary>Every weight +1, −1 or 0 (codes 2, 0 and 1: base-3 digits reach no code 3), the block's scale kept.</summary>
    protected override void MakeExtreme(Span<byte> block, int i)
    {
        Span<float> values = stackalloc float[TQ1_0.BlockSize];
        values.Fill(i % 3 == 0 ? 1f : i % 3 == 1 ? -1f : 0f);
        Span<byte> quantized = stackalloc byte[TQ1_0.BlockBytes];
        TQ1_0.Quantize(values, quantized);
        quantized[..TQ1_0.OffsetD].CopyTo(block);
    }

    [Fact]
    public void TQ1_0_has_the_ternary_layout_in_the_quant_table()
    {
        Assert.Same(InterleavedTQ2_0.LayoutTQ1_0, QuantTypes.Get(GgmlType.TQ1_0).Repacked);
        Assert.Equal(InterleavedTQ2_0.Bytes(100, 512), QuantTypes.Get(GgmlType.TQ1_0).RepackedBytes(100, 512));
    }

    [Fact]
    public void Tq1_0_and_tq2_0_rows_of_the_same_values_repack_to_the_same_bytes()
    {
        const int rows = 11, cols = 3 * 256;
        var rng = new Random(3);
        var values = new float[rows * cols];
        for (int i = 0; i < values.Length; i++)
            values[i] = (rng.Next(3) - 1) * 0.25f;
        values[0] = 0.25f; // every block's largest magnitude is the scale 0.25 (one nonzero per block is all but certain)
        var tq1 = new byte[QuantTypes.Get(GgmlType.TQ1_0).RowBytes(cols) * rows];
        var tq2 = new byte[QuantTypes.Get(GgmlType.TQ2_0).RowBytes(cols) * rows];
        QuantTypes.Get(GgmlType.TQ1_0).FromFloat!(values, tq1);
        QuantTypes.Get(GgmlType.TQ2_0).FromFloat!(values, tq2);

        Assert.Equal(Repack(QuantTypes.Get(GgmlType.TQ2_0), tq2, rows, cols), Repack(QuantTypes.Get(GgmlType.TQ1_0), tq1, rows, cols));
    }
}
