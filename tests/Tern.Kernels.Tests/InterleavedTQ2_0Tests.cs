using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>TQ2_0 rows in the ternary repacked layout (<see cref="InterleavedTQ2_0.Layout"/>) against <see cref="DotTQ2_0.Scalar"/>.</summary>
public sealed class InterleavedTQ2_0Tests : InterleavedTernaryTests
{
    protected override GgmlType WeightType => GgmlType.TQ2_0;

    /// <summary>Codes 3 (which no quantizer writes), 2 (+1) and 0 (−1) in every weight.</summary>
    protected override void MakeExtreme(Span<byte> block, int i) =>
        block.Slice(TQ2_0.OffsetQs, 64).Fill(i % 3 == 0 ? (byte)0xFF : i % 3 == 1 ? (byte)0xAA : (byte)0x00);

    [Fact]
    public void TQ2_0_has_this_repacked_layout_in_the_quant_table()
    {
        Assert.Same(InterleavedTQ2_0.Layout, QuantTypes.Get(GgmlType.TQ2_0).Repacked);
        Assert.Equal(InterleavedTQ2_0.Bytes(100, 512), QuantTypes.Get(GgmlType.TQ2_0).RepackedBytes(100, 512));
    }
}
