using Tern.Gguf;

namespace Tern.Kernels.Tests;

/// <summary>
/// <see cref="MatMul.MultiplyGrouped"/> over repacked expert matrices refuses what it cannot run; that each segment
/// gets the bits of its own <see cref="MatMul.MultiplyRepacked"/> is part of every layout's contract
/// (<see cref="RepackedLayoutTests"/>).
/// </summary>
public class RepackedGroupedTests
{
    [Fact]
    public unsafe void Grouped_repacked_refuses_a_type_without_a_layout_and_bad_segments()
    {
        using var pool = new WorkerPool(1);
        var matmul = new MatMul(pool);
        var q6 = QuantTypes.Get(GgmlType.Q6_K); // no repacked layout
        var output = new float[8];
        fixed (float* o = output)
        {
            var segment = new MatMulSegment { Weights = null, Rows = 8, TokenStart = 0, Tokens = 1, Output = o };
            Assert.Throws<NotSupportedException>(() => matmul.MultiplyGrouped(q6, 256, new float[256], [segment], repacked: true));
            var beyond = segment with { TokenStart = 1 };
            Assert.Equal("segments", Assert.Throws<ArgumentException>(() =>
                matmul.MultiplyGrouped(QuantTypes.Get(GgmlType.Q4_K), 256, new float[256], [beyond], repacked: true)).ParamName);
        }
    }
}
