using Tern.Gguf;

namespace Tern.Kernels.Tests;

/// <summary>
/// What every repacked layout of the quant table must do, run for one weight type by each subclass: the SIMD kernel
/// equals its scalar twin bit for bit, a token gets the same bits alone and in a batch, results are the type's own
/// dot products up to float rounding (within the subclass's derived tolerance), weights and activations at their
/// extremes stay exact, and <see cref="MatMul.MultiplyRepacked"/> tiles the kernel correctly on any thread count
/// without allocating. With AVX2 off (.ci/run) the SIMD entry point takes the scalar path.
/// </summary>
public abstract class RepackedLayoutTests
{
    protected abstract GgmlType WeightType { get; }

    /// <summary>The type's plain dot product (weight row · activation row), the reference the layout must match.</summary>
    protected abstract float Reference(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);

    /// <summary>How far the kernel may be from <see cref="Reference"/> on this row pair (derived from the roundings both do).</summary>
    protected abstract double Tolerance(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations);

    /// <summary>Weight and activation blocks at the limits of the kernel's integer sums (block i of each picks its extreme by i).</summary>
    protected abstract void MakeExtreme(Span<byte> weightBlock, int i);

    protected abstract void MakeExtremeActivation(Span<byte> activationBlock, int i);

    private QuantType Weights => QuantTypes.Get(WeightType);
    private QuantType Activation => QuantTypes.Get(Weights.DotActivation);
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

    [Fact]
    public void Extreme_weights_and_activations_stay_exact()
    {
        const int rows = 16, tokens = 5, blocks = 2;
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
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(random.NextDouble() * 2 - 1);
        var plain = new float[rows * cols];
        for (int i = 0; i < plain.Length; i++)
            plain[i] = (float)(random.NextDouble() * 2 - 1);
        var matrix = new byte[Weights.RowBytes(cols) * rows];
        Weights.FromFloat!(plain, matrix);
        var groups = Repack(matrix, rows, cols);

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
                float expected = Reference(w, y);
                double tolerance = Tolerance(w, y);
                Assert.True(Math.Abs(results[t * rows + r] - expected) <= tolerance,
                    $"{rows}x{tokens}: y[{t}, {r}] = {results[t * rows + r]}, the {WeightType} dot {expected}, tolerance {tolerance}");
            }
        }
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

    private byte[] Repack(byte[] matrix, int rows, int cols)
    {
        var groups = new byte[Weights.RepackedBytes(rows, cols)];
        int groupBytes = groups.Length / Layout.Groups(rows);
        for (int g = 0; g < Layout.Groups(rows); g++)
            Layout.Repack(matrix, rows, cols, g, groups.AsSpan(g * groupBytes, groupBytes));
        return groups;
    }

    protected static void AssertSameBits(float expected, float actual, string what) =>
        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"{what}: {actual}, expected {expected}");
}
