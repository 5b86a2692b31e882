using System.Runtime.InteropServices;
using Tern.Gguf;

namespace Tern.Kernels.Tests;

/// <summary>
/// <see cref="MatMul.MultiplyGrouped"/> over repacked expert matrices (the MoE path of the types with a repacked
/// layout): each segment gets the bits of its own <see cref="MatMul.MultiplyRepacked"/>.
/// </summary>
public class RepackedGroupedTests
{
    [Theory]
    [InlineData(GgmlType.Q4_0, 2)]
    [InlineData(GgmlType.Q4_K, 2)]
    [InlineData(GgmlType.Q4_K, 1)]
    [InlineData(GgmlType.TQ2_0, 2)]
    [InlineData(GgmlType.TQ1_0, 2)]
    public unsafe void Grouped_repacked_products_give_the_bits_of_one_multiply_per_segment(GgmlType type, int threads)
    {
        // Experts of different token counts (0, 1, a multi-token group, a remainder) over one activation matrix;
        // 44 rows: a partial last group.
        const int rows = 44, cols = 512, nTokens = 14;
        int[][] ranges = [[0, 1], [1, 0], [1, 9], [10, 4], [3, 5]];
        var q = QuantTypes.Get(type);
        var random = new Random((int)type + threads);
        var experts = ranges.Select(_ => Repack(q, Quantized(q, rows, cols, random), rows, cols)).ToArray();
        var x = new float[nTokens * cols];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(random.NextDouble() * 2 - 1);
        using var pool = new WorkerPool(threads);
        var matmul = new MatMul(pool);
        var outputs = ranges.Select(r => new float[r[1] * rows]).ToArray();
        var handles = experts.Select(w => GCHandle.Alloc(w, GCHandleType.Pinned)).Concat(outputs.Select(o => GCHandle.Alloc(o, GCHandleType.Pinned))).ToArray();
        try
        {
            var segments = ranges.Select((r, i) => new MatMulSegment
            {
                Weights = (byte*)handles[i].AddrOfPinnedObject(),
                Rows = rows,
                TokenStart = r[0],
                Tokens = r[1],
                Output = (float*)handles[ranges.Length + i].AddrOfPinnedObject(),
            }).ToArray();
            matmul.MultiplyGrouped(q, cols, x, segments, repacked: true);

            for (int i = 0; i < ranges.Length; i++)
            {
                var expected = new float[ranges[i][1] * rows];
                matmul.MultiplyRepacked(q, (byte*)handles[i].AddrOfPinnedObject(), rows, cols, x.AsSpan(ranges[i][0] * cols, ranges[i][1] * cols), expected);
                Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), outputs[i].Select(BitConverter.SingleToUInt32Bits));
            }
        }
        finally
        {
            foreach (var h in handles)
                h.Free();
        }
    }

    [Fact]
    public unsafe void Grouped_repacked_refuses_a_type_without_a_layout_and_bad_segments()
    {
        using var pool = new WorkerPool(1);
        var matmul = new MatMul(pool);
        var q8 = QuantTypes.Get(GgmlType.Q8_0);
        var output = new float[8];
        fixed (float* o = output)
        {
            var segment = new MatMulSegment { Weights = null, Rows = 8, TokenStart = 0, Tokens = 1, Output = o };
            Assert.Throws<NotSupportedException>(() => matmul.MultiplyGrouped(q8, 64, new float[64], [segment], repacked: true));
            var beyond = segment with { TokenStart = 1 };
            Assert.Equal("segments", Assert.Throws<ArgumentException>(() =>
                matmul.MultiplyGrouped(QuantTypes.Get(GgmlType.Q4_K), 256, new float[256], [beyond], repacked: true)).ParamName);
        }
    }

    private static byte[] Quantized(QuantType q, int rows, int cols, Random random)
    {
        var floats = new float[rows * cols];
        for (int i = 0; i < floats.Length; i++)
            floats[i] = (float)(random.NextDouble() * 2 - 1);
        var bytes = new byte[q.RowBytes(cols) * rows];
        q.FromFloat!(floats, bytes);
        return bytes;
    }

    private static byte[] Repack(QuantType q, byte[] matrix, int rows, int cols)
    {
        var layout = q.Repacked!;
        var groups = new byte[q.RepackedBytes(rows, cols)];
        var groupBytes = (int)layout.GroupBytes(cols / q.BlockSize);
        for (int g = 0; g < layout.Groups(rows); g++)
            layout.Repack(matrix, rows, cols, g, groups.AsSpan(g * groupBytes, groupBytes));
        return groups;
    }
}
