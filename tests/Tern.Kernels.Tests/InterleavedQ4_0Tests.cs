using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Dot;

namespace Tern.Kernels.Tests;

/// <summary>
/// Q4_0 rows repacked eight at a time: the SIMD kernel equals its scalar twin bit for bit (both do the same integer
/// sums and float operations), a token gets the same bits alone and in a batch, the results are the Q4_0 · Q8_0
/// dot products, and <see cref="MatMul.MultiplyRepacked"/> tiles them correctly. With AVX2 off (.ci/run)
/// the SIMD entry point takes the scalar path.
/// </summary>
public class InterleavedQ4_0Tests
{
    private static readonly QuantType Q4 = QuantTypes.Get(GgmlType.Q4_0);
    private static readonly QuantType Q8 = QuantTypes.Get(GgmlType.Q8_0);

    // One row, whole groups and a partial last group; tokens below, at and past the four-token tile (remainders of 1 to 3 tokens); 1 to 7 blocks.
    public static TheoryData<int, int, int> RowsTokensAndBlocks() => new()
    {
        { 1, 1, 1 }, { 8, 1, 2 }, { 9, 3, 3 }, { 16, 4, 2 }, { 17, 5, 7 }, { 24, 9, 4 }, { 3, 8, 1 }, { 40, 2, 5 }, { 12, 6, 3 }, { 8, 7, 2 },
    };

    [Theory]
    [MemberData(nameof(RowsTokensAndBlocks))]
    public void Kernel_equals_its_scalar_twin_bit_for_bit(int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(0, rows, tokens, blocks);
        if (rows > 8)
        {
            // Scales of every kind a file may hold: zero, subnormal, negative, the largest half.
            WriteScale(matrix, 0, 0);
            WriteScale(matrix, 1, 0x0001);
            WriteScale(matrix, 2, 0x83FF);
            WriteScale(matrix, 3, 0x7BFF);
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
        int rowBytes = blocks * Q8.BytesPerBlock;
        for (int t = 0; t < tokens; t++)
        {
            var alone = Run(matrix, rows, activations.AsSpan(t * rowBytes, rowBytes).ToArray(), 1, scalarTwin: false);
            for (int r = 0; r < rows; r++)
                AssertSameBits(alone[r], batch[t * rows + r], $"{rows}x{tokens}, {blocks} blocks, y[{t}, {r}] alone vs in the batch");
        }
    }

    [Theory]
    [MemberData(nameof(RowsTokensAndBlocks))]
    public void Results_are_the_q4_0_dot_products(int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(31, rows, tokens, blocks);
        var results = Run(matrix, rows, activations, tokens, scalarTwin: false);
        int rowBytes = blocks * Q4.BytesPerBlock, activationRowBytes = blocks * Q8.BytesPerBlock;
        for (int r = 0; r < rows; r++)
        {
            var w = new float[blocks * 32];
            Q4.ToFloat(matrix.AsSpan(r * rowBytes, rowBytes), w);
            for (int t = 0; t < tokens; t++)
            {
                var y = new float[blocks * 32];
                Q8.ToFloat(activations.AsSpan(t * activationRowBytes, activationRowBytes), y);
                double expected = 0, magnitude = 0;
                for (int i = 0; i < w.Length; i++)
                {
                    expected += (double)w[i] * y[i];
                    magnitude += Math.Abs((double)w[i] * y[i]);
                }

                // Exact integers per block; only the float products and sums of the block results round.
                Assert.True(Math.Abs(results[t * rows + r] - expected) <= 1e-6 * magnitude + 1e-30,
                    $"{rows}x{tokens}, {blocks} blocks, y[{t}, {r}] = {results[t * rows + r]}, expected {expected}");
            }
        }
    }

    [Fact]
    public void Extreme_weights_and_activations_stay_exact()
    {
        // Nibbles 0 and 15 against activations ±127: the int16 pair sums of the plain AVX2 path at their limits,
        // which the scalar twin (plain ints) would expose if they saturated.
        const int rows = 16, tokens = 5, blocks = 3;
        var matrix = RandomBlocks.Make(GgmlType.Q4_0, rows * blocks, new Random(5));
        for (int b = 0; b < rows * blocks; b++)
            matrix.AsSpan(b * Q4.BytesPerBlock + 2, 16).Fill(b % 3 == 0 ? (byte)0xFF : b % 3 == 1 ? (byte)0x00 : (byte)0x0F);
        var activations = RandomBlocks.Make(GgmlType.Q8_0, tokens * blocks, new Random(6));
        for (int b = 0; b < tokens * blocks; b++)
            activations.AsSpan(b * Q8.BytesPerBlock + 2, 32).Fill(b % 2 == 0 ? unchecked((byte)-127) : (byte)127);

        var simd = Run(matrix, rows, activations, tokens, scalarTwin: false);
        var scalar = Run(matrix, rows, activations, tokens, scalarTwin: true);
        for (int i = 0; i < simd.Length; i++)
            AssertSameBits(scalar[i], simd[i], $"y[{i / rows}, {i % rows}]");
    }

    [Fact]
    public void Bad_shapes_are_refused_naming_the_argument()
    {
        var matrix = new byte[9 * 2 * Q4.BytesPerBlock];
        var group = new byte[2 * InterleavedQ4_0.GroupBlockBytes];
        Assert.Equal("matrix", Assert.Throws<ArgumentException>(() => InterleavedQ4_0.Repack(matrix, 8, 64, 0, group)).ParamName);
        Assert.Equal("cols", Assert.Throws<ArgumentException>(() => InterleavedQ4_0.Repack(matrix, 9, 48, 0, group)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => InterleavedQ4_0.Repack(matrix, 9, 64, 2, group));
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => InterleavedQ4_0.Repack(matrix, 9, 64, 1, new byte[10])).ParamName);

        var groups = new byte[2 * group.Length];
        var activations = new byte[3 * 2 * Q8.BytesPerBlock];
        Assert.Equal("activations", Assert.Throws<ArgumentException>(() =>
            InterleavedQ4_0.Dot(groups, 9, activations, new int[5], new float[27], 9)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() =>
            InterleavedQ4_0.Dot(groups, 9, activations, new int[6], new float[26], 9)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() =>
            InterleavedQ4_0.Dot(groups.AsSpan(1), 9, activations, new int[6], new float[27], 9)).ParamName);
    }

    public static TheoryData<int, int, int, int> MatMulCases() => new()
    {
        { 8, 64, 1, 1 }, { 100, 256, 1, 2 }, { 36, 96, 13, 2 }, { 1000, 64, 3, 2 }, { 24, 8192, 33, 2 },
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
        var matrix = new byte[Q4.RowBytes(cols) * rows];
        Q4.FromFloat!(plain, matrix);
        var groups = Repack(matrix, rows, cols);

        using var pool = new WorkerPool(threads);
        var y = new float[tokens * rows];
        unsafe
        {
            fixed (byte* w = groups)
                new MatMul(pool).MultiplyRepacked(Q4, w, rows, cols, x, y);
        }

        // The same tokens quantized as MatMul does, through the kernel's scalar twin in one call.
        var activations = new byte[Q8.RowBytes(cols) * tokens];
        Q8.FromFloat!(x, activations);
        var offsets = Offsets(activations, cols / 32, tokens);
        var expected = new float[tokens * rows];
        InterleavedQ4_0.Scalar(groups, rows, activations, offsets, expected, rows);
        for (int i = 0; i < y.Length; i++)
            AssertSameBits(expected[i], y[i], $"[{rows}, {cols}] × {tokens} tokens on {threads} threads: y[{i / rows}, {i % rows}]");
    }

    [Fact]
    public unsafe void Multiply_allocates_nothing_once_warmed_up()
    {
        const int rows = 64, cols = 512, nTokens = 9;
        var groups = new byte[InterleavedQ4_0.Bytes(rows, cols)];
        var x = new float[nTokens * cols];
        var y = new float[nTokens * rows];
        using var pool = new WorkerPool(2);
        var matmul = new MatMul(pool);
        fixed (byte* w = groups)
        {
            var pointer = (nint)w;
            var allocated = Allocations.AfterWarmUp(
                i => matmul.MultiplyRepacked(Q4, (byte*)pointer, rows, cols, x.AsSpan(0, (i % nTokens + 1) * cols), y.AsSpan(0, (i % nTokens + 1) * rows)), 20);
            Assert.Equal(0, allocated);
        }
    }

    [Fact]
    public void Multiply_refuses_bad_shapes_naming_the_argument()
    {
        using var pool = new WorkerPool(1);
        var matmul = new MatMul(pool);
        var groups = new byte[InterleavedQ4_0.Bytes(8, 64)];
        unsafe
        {
            fixed (byte* w = groups)
            {
                var pointer = (nint)w;
                Assert.Equal("cols", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(Q4, (byte*)pointer, 8, 48, new float[48], new float[8])).ParamName);
                Assert.Equal("x", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(Q4, (byte*)pointer, 8, 64, new float[65], new float[8])).ParamName);
                Assert.Equal("y", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(Q4, (byte*)pointer, 8, 64, new float[64], new float[7])).ParamName);
            }
        }
    }

    /// <summary>Random Q4_0 rows [rows, blocks·32] and Q8_0 activation rows [tokens, blocks·32].</summary>
    private static (byte[] Matrix, byte[] Activations) RandomCase(int seed, int rows, int tokens, int blocks)
    {
        var rng = new Random(seed + 100 * rows + 10 * tokens + blocks);
        return (RandomBlocks.Make(GgmlType.Q4_0, rows * blocks, rng), RandomBlocks.Make(GgmlType.Q8_0, tokens * blocks, rng));
    }

    private static float[] Run(byte[] matrix, int rows, byte[] activations, int tokens, bool scalarTwin)
    {
        int blocks = activations.Length / tokens / Q8.BytesPerBlock;
        var groups = Repack(matrix, rows, blocks * 32);
        var offsets = Offsets(activations, blocks, tokens);
        var output = new float[tokens * rows];
        if (scalarTwin)
            InterleavedQ4_0.Scalar(groups, rows, activations, offsets, output, rows);
        else
            InterleavedQ4_0.Dot(groups, rows, activations, offsets, output, rows);
        return output;
    }

    private static byte[] Repack(byte[] matrix, int rows, int cols)
    {
        var groups = new byte[InterleavedQ4_0.Bytes(rows, cols)];
        int groupBytes = groups.Length / InterleavedQ4_0.Groups(rows);
        for (int g = 0; g < InterleavedQ4_0.Groups(rows); g++)
            InterleavedQ4_0.Repack(matrix, rows, cols, g, groups.AsSpan(g * groupBytes, groupBytes));
        return groups;
    }

    private static int[] Offsets(byte[] activations, int blocks, int tokens)
    {
        var offsets = new int[blocks * tokens];
        int rowBytes = blocks * Q8.BytesPerBlock;
        for (int t = 0; t < tokens; t++)
            InterleavedQ4_0.BlockOffsets(activations.AsSpan(t * rowBytes, rowBytes), offsets.AsSpan(t * blocks, blocks));
        return offsets;
    }

    private static void WriteScale(byte[] matrix, int block, ushort bits) =>
        BinaryPrimitives.WriteUInt16LittleEndian(matrix.AsSpan(block * Q4.BytesPerBlock), bits);

    private static void AssertSameBits(float expected, float actual, string what) =>
        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"{what}: {actual}, expected {expected}");
}
