using System.Runtime.InteropServices;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Kernels.Tests;

public sealed class MatMulTests
{
    // A float "quant type" with a plain loop as its dot product: checks how MatMul splits rows and tokens
    // independently of any real kernel.
    private static readonly QuantType PlainFloat = new(
        GgmlType.F32,
        BlockSize: 1,
        BytesPerBlock: 4,
        ToFloat: (blocks, output) => MemoryMarshal.Cast<byte, float>(blocks).CopyTo(output),
        FromFloat: (input, blocks) => MemoryMarshal.AsBytes(input).CopyTo(blocks),
        DotActivation: GgmlType.F32,
        Dot: PlainDot,
        DotScalar: PlainDot);

    private static float PlainDot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        var w = MemoryMarshal.Cast<byte, float>(weights);
        var x = MemoryMarshal.Cast<byte, float>(activations);
        var sum = 0f;
        for (var i = 0; i < w.Length; i++)
            sum += w[i] * x[i];
        return sum;
    }

    private static float[] RandomFloats(int count, Random random)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }

    [Theory]
    [InlineData(1, 1, 8, 1, 0)]
    [InlineData(2, 37, 24, 1, 0)]
    [InlineData(2, 130, 16, 7, 16)]   // 8 full chunks + 2 rows
    [InlineData(3, 200, 40, 7, 0)]
    [InlineData(2, 64, 33, 5, 7)]
    [InlineData(4, 1000, 12, 3, 0)]
    public void Multiply_computes_every_output_of_every_token(int threads, int rows, int cols, int nTokens, int chunkRows)
    {
        var random = new Random(rows * 31 + cols);
        var weights = RandomFloats(rows * cols, random);
        var x = RandomFloats(nTokens * cols, random);
        var expected = new float[nTokens * rows];
        MatMul.Reference(PlainFloat, MemoryMarshal.AsBytes(weights.AsSpan()), rows, cols, x, expected);

        using var pool = new WorkerPool(threads);
        var matmul = new MatMul(pool) { ChunkRows = chunkRows };
        var y = new float[nTokens * rows];
        y.AsSpan().Fill(float.NaN);
        matmul.Multiply(PlainFloat, MemoryMarshal.AsBytes(weights.AsSpan()), rows, cols, x, y);

        for (var i = 0; i < y.Length; i++)
            Assert.True(Math.Abs(expected[i] - y[i]) <= 1e-5f * cols, $"y[{i / rows}, {i % rows}] = {y[i]}, expected {expected[i]}");
    }

    [Fact]
    public unsafe void Multiply_reads_weights_through_a_pointer()
    {
        const int rows = 50, cols = 20;
        var random = new Random(5);
        var weights = RandomFloats(rows * cols, random);
        var x = RandomFloats(2 * cols, random);
        var expected = new float[2 * rows];
        MatMul.Reference(PlainFloat, MemoryMarshal.AsBytes(weights.AsSpan()), rows, cols, x, expected);

        var native = (byte*)NativeMemory.Alloc((nuint)(weights.Length * sizeof(float)));
        try
        {
            MemoryMarshal.AsBytes(weights.AsSpan()).CopyTo(new Span<byte>(native, weights.Length * sizeof(float)));
            using var pool = new WorkerPool(2);
            var y = new float[2 * rows];
            new MatMul(pool).Multiply(PlainFloat, native, rows, cols, x, y);

            for (var i = 0; i < y.Length; i++)
                Assert.Equal(expected[i], y[i], 1e-4f);
        }
        finally
        {
            NativeMemory.Free(native);
        }
    }

    [Fact]
    public void Multiply_rejects_mismatched_shapes()
    {
        using var pool = new WorkerPool(1);
        var matmul = new MatMul(pool);
        var weights = new byte[4 * 8 * sizeof(float)]; // [4, 8]

        Assert.Throws<ArgumentException>(() => matmul.Multiply(PlainFloat, weights, 4, 8, new float[8], new float[3]));
        Assert.Throws<ArgumentException>(() => matmul.Multiply(PlainFloat, weights, 4, 8, new float[12], new float[4]));
        Assert.Throws<ArgumentException>(() => matmul.Multiply(PlainFloat, weights, 5, 8, new float[8], new float[5]));
    }

    public static TheoryData<GgmlType, int, int, int, int> QuantizedCases()
    {
        var data = new TheoryData<GgmlType, int, int, int, int>();
        GgmlType[] types =
        [
            GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
            GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.TQ1_0,
            GgmlType.TQ2_0,
        ];
        foreach (var type in types)
        {
            data.Add(type, 1, 256, 1, 2);
            data.Add(type, 37, 512, 1, 2);   // rows not a multiple of the chunk
            data.Add(type, 70, 256, 7, 3);
            data.Add(type, 16, 768, 7, 1);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(QuantizedCases))]
    public void Multiply_matches_scalar_dot_with_quantized_activations(GgmlType type, int rows, int cols, int nTokens, int threads)
    {
        var q = QuantTypes.Get(type);
        var random = new Random((int)type * 1000 + rows + nTokens);
        var weights = QuantizedWeights(q, rows, cols, random);
        var x = RandomFloats(nTokens * cols, random);

        using var pool = new WorkerPool(threads);
        var y = new float[nTokens * rows];
        new MatMul(pool) { ChunkRows = 16 }.Multiply(type, weights, rows, cols, x, y);

        // Tight check: the same quantized activation row through the scalar dot product.
        var activation = QuantTypes.Get(q.DotActivation);
        var activationRow = new byte[activation.RowBytes(cols)];
        var rowBytes = (int)q.RowBytes(cols);
        var magnitudes = Magnitudes(q, weights, rows, cols, x);
        for (var t = 0; t < nTokens; t++)
        {
            activation.FromFloat!(x.AsSpan(t * cols, cols), activationRow);
            for (var r = 0; r < rows; r++)
            {
                var expected = q.DotScalar!(weights.AsSpan(r * rowBytes, rowBytes), activationRow);
                var actual = y[t * rows + r];
                Assert.True(Math.Abs(expected - actual) <= 1e-4f * magnitudes[t * rows + r] + 1e-6f,
                    $"{type} y[{t}, {r}] = {actual}, scalar dot gives {expected}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(QuantizedCases))]
    public void Multiply_matches_float_reference_within_activation_quantization_error(GgmlType type, int rows, int cols, int nTokens, int threads)
    {
        var q = QuantTypes.Get(type);
        var random = new Random((int)type * 77 + rows + nTokens);
        var weights = QuantizedWeights(q, rows, cols, random);
        var x = RandomFloats(nTokens * cols, random);
        var expected = new float[nTokens * rows];
        MatMul.Reference(type, weights, rows, cols, x, expected);

        using var pool = new WorkerPool(threads);
        var y = new float[nTokens * rows];
        new MatMul(pool).Multiply(type, weights, rows, cols, x, y);

        var magnitudes = Magnitudes(q, weights, rows, cols, x);
        for (var i = 0; i < y.Length; i++)
        {
            // 8-bit activations are off by at most half a step (max|x| / 254) per element.
            Assert.True(Math.Abs(expected[i] - y[i]) <= 0.02f * magnitudes[i] + 1e-6f,
                $"{type} y[{i / rows}, {i % rows}] = {y[i]}, reference {expected[i]}");
        }
    }

    public static TheoryData<GgmlType, int, int, int> BatchCases()
    {
        var data = new TheoryData<GgmlType, int, int, int>();
        foreach (var q in QuantTypes.All.Where(q => q.Dot is not null && q.Type != GgmlType.F32))
            data.Add(q.Type, 40, 512, 13); // multi-token groups and a remainder
        // A long row: the L2 token tile (28 tokens here) ends mid-batch and holds whole multi-token groups.
        data.Add(GgmlType.Q8_0, 16, 8192, 33);
        data.Add(GgmlType.Q4_K, 16, 8192, 33);
        return data;
    }

    [Theory]
    [MemberData(nameof(BatchCases))]
    public void Multiply_gives_a_token_the_same_bits_alone_and_in_a_batch(GgmlType type, int rows, int cols, int nTokens)
    {
        var q = QuantTypes.Get(type);
        var random = new Random((int)type * 13 + nTokens);
        var weights = QuantizedWeights(q, rows, cols, random);
        var x = RandomFloats(nTokens * cols, random);
        using var pool = new WorkerPool(2);
        var matmul = new MatMul(pool);
        var batch = new float[nTokens * rows];
        matmul.Multiply(type, weights, rows, cols, x, batch);

        var alone = new float[rows];
        for (var t = 0; t < nTokens; t++)
        {
            matmul.Multiply(type, weights, rows, cols, x.AsSpan(t * cols, cols), alone);
            for (var r = 0; r < rows; r++)
            {
                Assert.True(BitConverter.SingleToUInt32Bits(alone[r]) == BitConverter.SingleToUInt32Bits(batch[t * rows + r]),
                    $"{type} y[{t}, {r}]: {batch[t * rows + r]} in a batch of {nTokens}, {alone[r]} alone");
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.MXFP4)] // the expert type of gpt-oss
    public unsafe void Grouped_products_give_the_bits_of_one_multiply_per_segment(GgmlType type)
    {
        // Experts of different token counts (0, 1, a multi-token group, a remainder) over one activation matrix.
        const int rows = 48, cols = 256, nTokens = 14;
        int[][] ranges = [[0, 1], [1, 0], [1, 9], [10, 4], [3, 5]];
        var q = QuantTypes.Get(type);
        var random = new Random((int)type);
        var weights = ranges.Select(_ => QuantizedWeights(q, rows, cols, random)).ToArray();
        var x = RandomFloats(nTokens * cols, random);
        using var pool = new WorkerPool(2);
        var matmul = new MatMul(pool);
        var outputs = ranges.Select(r => new float[r[1] * rows]).ToArray();
        var handles = weights.Select(w => GCHandle.Alloc(w, GCHandleType.Pinned)).Concat(outputs.Select(o => GCHandle.Alloc(o, GCHandleType.Pinned))).ToArray();
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
            matmul.MultiplyGrouped(q, cols, x, segments);
        }
        finally
        {
            foreach (var h in handles)
                h.Free();
        }

        for (int i = 0; i < ranges.Length; i++)
        {
            var expected = new float[ranges[i][1] * rows];
            matmul.Multiply(type, weights[i], rows, cols, x.AsSpan(ranges[i][0] * cols, ranges[i][1] * cols), expected);
            Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), outputs[i].Select(BitConverter.SingleToUInt32Bits));
        }
    }

    [Fact]
    public void Multiply_allocates_nothing_once_warmed_up()
    {
        const int rows = 64, cols = 512, nTokens = 9; // up to two multi-token groups and a remainder
        var random = new Random(3);
        var weights = QuantizedWeights(QuantTypes.Get(GgmlType.Q8_0), rows, cols, random);
        var x = RandomFloats(nTokens * cols, random);
        var y = new float[nTokens * rows];
        using var pool = new WorkerPool(2);
        var matmul = new MatMul(pool);
        var allocated = Allocations.AfterWarmUp(
            i => matmul.Multiply(GgmlType.Q8_0, weights, rows, cols, x.AsSpan(0, (i % nTokens + 1) * cols), y.AsSpan(0, (i % nTokens + 1) * rows)), 20);

        Assert.Equal(0, allocated);
    }

    // Weights made by quantizing random floats, so every block is one the quantizer can produce.
    private static byte[] QuantizedWeights(QuantType q, int rows, int cols, Random random)
    {
        var floats = RandomFloats(rows * cols, random);
        var bytes = new byte[q.RowBytes(cols) * rows];
        q.FromFloat!(floats, bytes);
        return bytes;
    }

    // Σ|w·x| per output: the scale that rounding errors are relative to.
    private static float[] Magnitudes(QuantType q, byte[] weights, int rows, int cols, float[] x)
    {
        var nTokens = x.Length / cols;
        var rowBytes = (int)q.RowBytes(cols);
        var row = new float[cols];
        var result = new float[nTokens * rows];
        for (var r = 0; r < rows; r++)
        {
            q.ToFloat(weights.AsSpan(r * rowBytes, rowBytes), row);
            for (var t = 0; t < nTokens; t++)
            {
                double sum = 0;
                for (var i = 0; i < cols; i++)
                    sum += Math.Abs((double)row[i] * x[t * cols + i]);
                result[t * rows + r] = (float)sum;
            }
        }

        return result;
    }
}
