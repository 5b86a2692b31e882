using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Tern.Gguf;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>
/// What every repacked layout of the quant table must do, run for one weight type by each subclass: the SIMD kernel
/// equals its scalar twin bit for bit, a token gets the same bits alone and in a batch, results are the type's own
/// dot products up to float rounding (within the subclass's derived tolerance), weights and activations at their
/// extremes stay exact, bad shapes are refused naming the argument, and <see cref="MatMul.MultiplyRepacked"/> (alone
/// and grouped) tiles the kernel correctly on any thread count without allocating. With AVX2 off (.ci/run) the SIMD
/// entry point takes the scalar path.
/// </summary>
/// <remarks>A subclass may hide <see cref="RowsTokensAndBlocks"/> or <see cref="MatMulCases"/> with shapes of its own
/// (xunit reads the member from the test class first).</remarks>
public abstract class RepackedLayoutTests
{
    protected abstract GgmlType WeightType { get; }

    /// <summary>The type's plain dot product (weight row · activation row), the reference the layout must match.</summary>
    protected abstract double Reference(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);

    /// <summary>How far the kernel may be from <see cref="Reference"/> on this row pair (derived from the roundings both do).</summary>
    protected abstract double Tolerance(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);

    /// <summary>Weight and activation blocks at the limits of the kernel's integer sums (block i of each picks its extreme by i).</summary>
    protected abstract void MakeExtreme(Span<byte> weightBlock, int i);

    protected abstract void MakeExtremeActivation(Span<byte> activationBlock, int i);

    /// <summary>Writes scales of the kinds in <see cref="SpecialHalves"/> into weight block i (0 to 7) of the
    /// bit-identity cases of more than 8 rows; by default none.</summary>
    protected virtual void MakeSpecialScales(Span<byte> weightBlock, int i)
    {
    }

    /// <summary>Half-precision scales of every kind a file may hold: zero, subnormal, negative, the largest.</summary>
    protected static readonly ushort[] SpecialHalves = [0, 0x0001, 0x83FF, 0x7BFF];

    protected QuantType Weights => QuantTypes.Get(WeightType);
    protected QuantType Activation => QuantTypes.Get(Weights.DotActivation);
    private RepackedLayout Layout => Weights.Repacked!;

    // One row, whole groups and a partial last group; 1 to 9 tokens (below, at and past the four-token tile); 1 to 4 blocks.
    public static TheoryData<int, int, int> RowsTokensAndBlocks() => new()
    {
        { 1, 1, 1 }, { 8, 1, 2 }, { 9, 3, 3 }, { 16, 4, 2 }, { 17, 5, 4 }, { 24, 9, 2 }, { 3, 8, 1 }, { 40, 2, 3 }, { 13, 6, 1 }, { 7, 7, 2 },
    };

    [Theory]
    [MemberData(nameof(RowsTokensAndBlocks))]
    public void Kernel_equals_its_scalar_twin_bit_for_bit(int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(0, rows, tokens, blocks);
        if (rows > 8) // at least 9 blocks
        {
            for (int b = 0; b < 8; b++)
                MakeSpecialScales(matrix.AsSpan(b * Weights.BytesPerBlock, Weights.BytesPerBlock), b);
        }

        var (simd, scalar) = (Run(matrix, rows, activations, tokens, scalarTwin: false), Run(matrix, rows, activations, tokens, scalarTwin: true));
        for (int i = 0; i < simd.Length; i++)
            AssertSameBits(scalar[i], simd[i], $"{rows}x{tokens}, {blocks} blocks, y[{i / rows}, {i % rows}]");
    }

    [Theory]
    [MemberData(nameof(RowsTokensAndBlocks))]
    public void A_token_gets_the_same_bits_alone_and_in_a_batch(int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(7, rows, tokens, blocks);
        var batch = Run(matrix, rows, activations, tokens, scalarTwin: false);
        int rowBytes = (int)Activation.RowBytes(blocks * Weights.BlockSize);
        for (int t = 0; t < tokens; t++)
        {
            var alone = Run(matrix, rows, activations.AsSpan(t * rowBytes, rowBytes).ToArray(), 1, scalarTwin: false);
            for (int r = 0; r < rows; r++)
                AssertSameBits(alone[r], batch[t * rows + r], $"{rows}x{tokens}, {blocks} blocks, y[{t}, {r}] alone vs in the batch");
        }
    }

    [Theory]
    [MemberData(nameof(RowsTokensAndBlocks))]
    public void Results_are_the_types_dot_products(int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(31, rows, tokens, blocks);
        AssertReferenceResults(matrix, rows, activations, tokens, Run(matrix, rows, activations, tokens, scalarTwin: false));
    }

    // Three blocks give every row each of three weight extremes picked by i % 3; two blocks mix them across rows.
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Extreme_weights_and_activations_stay_exact(int blocks)
    {
        const int rows = 16, tokens = 5;
        var (matrix, activations) = RandomCase(5, rows, tokens, blocks);
        for (int b = 0; b < rows * blocks; b++)
            MakeExtreme(matrix.AsSpan(b * Weights.BytesPerBlock, Weights.BytesPerBlock), b);
        for (int b = 0; b < tokens * blocks; b++)
            MakeExtremeActivation(activations.AsSpan(b * Activation.BytesPerBlock, Activation.BytesPerBlock), b);

        var simd = Run(matrix, rows, activations, tokens, scalarTwin: false);
        var scalar = Run(matrix, rows, activations, tokens, scalarTwin: true);
        for (int i = 0; i < simd.Length; i++)
            AssertSameBits(scalar[i], simd[i], $"y[{i / rows}, {i % rows}]");
        AssertReferenceResults(matrix, rows, activations, tokens, simd);
    }

    [Fact]
    public void Bad_shapes_are_refused_naming_the_argument()
    {
        int cols = 2 * Weights.BlockSize;
        var matrix = new byte[9 * Weights.RowBytes(cols)];
        var group = new byte[Layout.GroupBytes(2)];
        Assert.Equal("matrix", Assert.Throws<ArgumentException>(() => Layout.Repack(matrix, 8, cols, 0, group)).ParamName);
        Assert.Equal("cols", Assert.Throws<ArgumentException>(() => Layout.Repack(matrix, 9, cols + Weights.BlockSize / 2, 0, group)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Layout.Repack(matrix, 9, cols, Layout.Groups(9), group));
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => Layout.Repack(matrix, 9, cols, 0, new byte[10])).ParamName);

        var groups = new byte[Layout.Groups(9) * group.Length];
        var activations = new byte[3 * Activation.RowBytes(cols)];
        Assert.Equal("activations", Assert.Throws<ArgumentException>(() => Layout.Dot(groups, 9, activations.AsSpan(1), default, new float[27], 9)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => Layout.Dot(groups, 9, activations, Offsets(activations), new float[26], 9)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() => Layout.Dot(groups.AsSpan(1), 9, activations, Offsets(activations), new float[27], 9)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Layout.Dot(groups, 9, activations, Offsets(activations), new float[27], 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => Layout.Scalar(groups, 0, activations, Offsets(activations), new float[27], 9));
        if (Layout.Offsets is { } offsets)
        {
            // One offset short for three activation rows of two blocks.
            Assert.Equal("activations", Assert.Throws<ArgumentException>(() => Layout.Dot(groups, 9, activations, new int[5], new float[27], 9)).ParamName);
            Assert.Equal("activations", Assert.Throws<ArgumentException>(() => offsets(activations, new int[5])).ParamName);
        }
    }

    [Fact]
    public unsafe void Multiply_refuses_bad_shapes_naming_the_argument()
    {
        int cols = 2 * Weights.BlockSize, partial = cols - Weights.BlockSize / 2;
        using var pool = new WorkerPool(1);
        var matmul = new MatMul(pool);
        var weights = Weights;
        var groups = new byte[weights.RepackedBytes(8, cols)];
        fixed (byte* w = groups)
        {
            var pointer = (nint)w;
            Assert.Equal("cols", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(weights, (byte*)pointer, 8, partial, new float[partial], new float[8])).ParamName);
            Assert.Equal("x", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(weights, (byte*)pointer, 8, cols, new float[cols + 1], new float[8])).ParamName);
            Assert.Equal("y", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(weights, (byte*)pointer, 8, cols, new float[cols], new float[7])).ParamName);
        }
    }

    public static TheoryData<int, int, int, int> MatMulCases() => new()
    {
        { 8, 256, 1, 1 }, { 100, 512, 1, 2 }, { 36, 768, 13, 2 }, { 1000, 256, 3, 2 }, { 24, 8192, 33, 2 },
    };

    [Theory]
    [MemberData(nameof(MatMulCases))]
    public void Multiply_gives_the_kernel_results_for_every_token_and_row(int rows, int cols, int tokens, int threads)
    {
        var random = new Random(rows + cols + tokens);
        var x = RandomFloats(tokens * cols, random);
        var groups = Repack(Quantized(RandomFloats(rows * cols, random)), rows, cols);

        using var pool = new WorkerPool(threads);
        var y = new float[tokens * rows];
        unsafe
        {
            fixed (byte* w = groups)
                new MatMul(pool).MultiplyRepacked(Weights, w, rows, cols, x, y);
        }

        // The same tokens quantized as MatMul does, through the kernel's scalar twin in one call.
        var activations = new byte[Activation.RowBytes(cols) * tokens];
        Activation.FromFloat!(x, activations);
        var expected = new float[tokens * rows];
        Layout.Scalar(groups, rows, activations, Offsets(activations), expected, rows);
        for (int i = 0; i < y.Length; i++)
            AssertSameBits(expected[i], y[i], $"[{rows}, {cols}] × {tokens} tokens on {threads} threads: y[{i / rows}, {i % rows}]");
    }

    [Fact]
    public unsafe void Multiply_allocates_nothing_once_warmed_up()
    {
        const int rows = 64, cols = 512, nTokens = 9;
        var groups = new byte[Weights.RepackedBytes(rows, cols)];
        var x = new float[nTokens * cols];
        var y = new float[nTokens * rows];
        using var pool = new WorkerPool(2);
        var matmul = new MatMul(pool);
        var weights = Weights;
        fixed (byte* w = groups)
        {
            var pointer = (nint)w;
            var allocated = Allocations.AfterWarmUp(
                i => matmul.MultiplyRepacked(weights, (byte*)pointer, rows, cols, x.AsSpan(0, (i % nTokens + 1) * cols), y.AsSpan(0, (i % nTokens + 1) * rows)), 20);
            Assert.Equal(0, allocated);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public unsafe void Grouped_products_give_the_bits_of_one_multiply_per_segment(int threads)
    {
        // Experts of different token counts (0, 1, a multi-token group, a remainder) over one activation matrix;
        // 44 rows: a partial last group.
        const int rows = 44, cols = 512, nTokens = 14;
        int[][] ranges = [[0, 1], [1, 0], [1, 9], [10, 4], [3, 5]];
        var random = new Random((int)WeightType + threads);
        var experts = ranges.Select(_ => Repack(Quantized(RandomFloats(rows * cols, random)), rows, cols)).ToArray();
        var x = RandomFloats(nTokens * cols, random);
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
            matmul.MultiplyGrouped(Weights, cols, x, segments, repacked: true);

            for (int i = 0; i < ranges.Length; i++)
            {
                var expected = new float[ranges[i][1] * rows];
                matmul.MultiplyRepacked(Weights, (byte*)handles[i].AddrOfPinnedObject(), rows, cols, x.AsSpan(ranges[i][0] * cols, ranges[i][1] * cols), expected);
                Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), outputs[i].Select(BitConverter.SingleToUInt32Bits));
            }
        }
        finally
        {
            foreach (var h in handles)
                h.Free();
        }
    }

    /// <summary>Σ w·y and Σ |w·y| over the dequantized rows (exact in double for the types whose dequantized values
    /// and activations have few enough significant bits).</summary>
    protected (double Dot, double Magnitude) DequantizedDot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        int elements = weights.Length / Weights.BytesPerBlock * Weights.BlockSize;
        var (w, y) = (new float[elements], new float[elements]);
        Weights.ToFloat(weights, w);
        Activation.ToFloat(activations, y);
        double dot = 0, magnitude = 0;
        for (int i = 0; i < elements; i++)
        {
            dot += (double)w[i] * y[i];
            magnitude += Math.Abs((double)w[i] * y[i]);
        }

        return (dot, magnitude);
    }

    /// <summary>Every quant of a Q8_K block set to <paramref name="q"/>, its group sums to match.</summary>
    protected static void FillQ8_K(Span<byte> block, sbyte q)
    {
        block.Slice(Q8_K.OffsetQs, Q8_K.BlockSize).Fill(unchecked((byte)q));
        for (int g = 0; g < 16; g++)
            BinaryPrimitives.WriteInt16LittleEndian(block.Slice(Q8_K.OffsetBsums + 2 * g), (short)(16 * q));
    }

    /// <summary>Random rows [rows, blocks·BlockSize] of the weight type and activation rows [tokens, blocks·BlockSize].</summary>
    private (byte[] Matrix, byte[] Activations) RandomCase(int seed, int rows, int tokens, int blocks)
    {
        var rng = new Random(seed + 100 * rows + 10 * tokens + blocks);
        return (RandomBlocks.Make(WeightType, rows * blocks, rng), RandomBlocks.Make(Weights.DotActivation, tokens * blocks, rng));
    }

    private void AssertReferenceResults(byte[] matrix, int rows, byte[] activations, int tokens, float[] results)
    {
        int rowBytes = matrix.Length / rows, activationRowBytes = activations.Length / tokens;
        for (int r = 0; r < rows; r++)
        {
            var w = matrix.AsSpan(r * rowBytes, rowBytes);
            for (int t = 0; t < tokens; t++)
            {
                var y = activations.AsSpan(t * activationRowBytes, activationRowBytes);
                double expected = Reference(w, y);
                double tolerance = Tolerance(w, y);
                Assert.True(Math.Abs(results[t * rows + r] - expected) <= tolerance,
                    $"{rows}x{tokens}: y[{t}, {r}] = {results[t * rows + r]}, the {WeightType} dot {expected}, tolerance {tolerance}");
            }
        }
    }

    private static float[] RandomFloats(int count, Random random)
    {
        var values = new float[count];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }

    /// <summary>Float rows in the weight type, as a model file holds them.</summary>
    private byte[] Quantized(float[] values)
    {
        var bytes = new byte[Weights.RowBytes(values.Length)];
        Weights.FromFloat!(values, bytes);
        return bytes;
    }

    private float[] Run(byte[] matrix, int rows, byte[] activations, int tokens, bool scalarTwin)
    {
        int cols = matrix.Length / rows / Weights.BytesPerBlock * Weights.BlockSize;
        var groups = Repack(matrix, rows, cols);
        var output = new float[tokens * rows];
        (scalarTwin ? Layout.Scalar : Layout.Dot)(groups, rows, activations, Offsets(activations), output, rows);
        return output;
    }

    private int[] Offsets(byte[] activations)
    {
        if (Layout.Offsets is not { } offsets)
            return [];
        var result = new int[activations.Length / Activation.BytesPerBlock];
        offsets(activations, result);
        return result;
    }

    private byte[] Repack(byte[] matrix, int rows, int cols) => Repack(Weights, matrix, rows, cols);

    /// <summary>A matrix [rows, cols] of <paramref name="weights"/> in its repacked layout, as the quant table gives it.</summary>
    protected static byte[] Repack(QuantType weights, byte[] matrix, int rows, int cols)
    {
        var layout = weights.Repacked!;
        var groups = new byte[weights.RepackedBytes(rows, cols)];
        int groupBytes = groups.Length / layout.Groups(rows);
        for (int g = 0; g < layout.Groups(rows); g++)
            layout.Repack(matrix, rows, cols, g, groups.AsSpan(g * groupBytes, groupBytes));
        return groups;
    }

    protected static void AssertSameBits(float expected, float actual, string what) =>
        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"{what}: {actual}, expected {expected}");
}
