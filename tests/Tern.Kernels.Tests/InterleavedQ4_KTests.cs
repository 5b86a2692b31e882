using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Dot;

namespace Tern.Kernels.Tests;

/// <summary>
/// Q4_K rows repacked eight at a time: the SIMD kernel equals its scalar twin bit for bit (both do the same integer
/// sums and float operations), a token gets the same bits alone and in a batch, and the results are the Q4_K · Q8_K
/// dot products of <see cref="DotQ4_K.Scalar"/> up to float rounding, and <see cref="MatMul.MultiplyRepacked"/> tiles
/// them correctly. With AVX2 off (.ci/run) the SIMD entry point takes the scalar path.
/// </summary>
public class InterleavedQ4_KTests
{
    private static readonly QuantType Q4 = QuantTypes.Get(GgmlType.Q4_K);
    private static readonly QuantType Q8 = QuantTypes.Get(GgmlType.Q8_K);

    private const int BlockBytes = 144;
    private const int ActivationBlockBytes = 292;

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
        if (rows > 8)
        {
            // Scales of every kind a file may hold: zero, subnormal, negative, the largest half; for d and dmin.
            WriteHalf(matrix, 0, 0, 0);
            WriteHalf(matrix, 1, 0, 0x0001);
            WriteHalf(matrix, 2, 0, 0x83FF);
            WriteHalf(matrix, 3, 0, 0x7BFF);
            WriteHalf(matrix, 4, 2, 0);
            WriteHalf(matrix, 5, 2, 0x0001);
            WriteHalf(matrix, 6, 2, 0x83FF);
            WriteHalf(matrix, 7, 2, 0x7BFF);
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
        int rowBytes = blocks * ActivationBlockBytes;
        for (int t = 0; t < tokens; t++)
        {
            var alone = Run(matrix, rows, activations.AsSpan(t * rowBytes, rowBytes).ToArray(), 1, scalarTwin: false);
            for (int r = 0; r < rows; r++)
                AssertSameBits(alone[r], batch[t * rows + r], $"{rows}x{tokens}, {blocks} blocks, y[{t}, {r}] alone vs in the batch");
        }
    }

    [Theory]
    [MemberData(nameof(RowsTokensAndBlocks))]
    public void Results_are_the_q4_k_dot_products(int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(31, rows, tokens, blocks);
        var results = Run(matrix, rows, activations, tokens, scalarTwin: false);
        int rowBytes = blocks * BlockBytes, activationRowBytes = blocks * ActivationBlockBytes;
        for (int r = 0; r < rows; r++)
        {
            var w = matrix.AsSpan(r * rowBytes, rowBytes);
            for (int t = 0; t < tokens; t++)
            {
                var y = activations.AsSpan(t * activationRowBytes, activationRowBytes);
                float expected = DotQ4_K.Scalar(w, y);
                double tolerance = Tolerance(blocks, w, y);
                Assert.True(Math.Abs(results[t * rows + r] - expected) <= tolerance,
                    $"{rows}x{tokens}, {blocks} blocks, y[{t}, {r}] = {results[t * rows + r]}, DotQ4_K.Scalar {expected}, tolerance {tolerance}");
            }
        }
    }

    [Fact]
    public void Extreme_weights_and_activations_stay_exact()
    {
        // Nibbles 0 and 15 against activations ±127 and −128 with the largest scales and mins: the int16 sums of the
        // AVX2 path at their limits, which the scalar twin (plain ints) would expose if they saturated.
        const int rows = 16, tokens = 5, blocks = 2;
        var matrix = RandomBlocks.Make(GgmlType.Q4_K, rows * blocks, new Random(5));
        for (int b = 0; b < rows * blocks; b++)
        {
            matrix.AsSpan(b * BlockBytes + 4, 12).Fill(0xFF); // every scale and min 63
            matrix.AsSpan(b * BlockBytes + 16, 128).Fill(b % 3 == 0 ? (byte)0xFF : b % 3 == 1 ? (byte)0x00 : (byte)0x0F);
        }

        var activations = RandomBlocks.Make(GgmlType.Q8_K, tokens * blocks, new Random(6));
        for (int b = 0; b < tokens * blocks; b++)
        {
            var block = activations.AsSpan(b * ActivationBlockBytes, ActivationBlockBytes);
            sbyte q = b % 3 == 0 ? (sbyte)-128 : b % 3 == 1 ? (sbyte)127 : (sbyte)-127;
            block.Slice(4, 256).Fill(unchecked((byte)q));
            for (int g = 0; g < 16; g++)
                BinaryPrimitives.WriteInt16LittleEndian(block.Slice(260 + 2 * g), (short)(16 * q));
        }

        var simd = Run(matrix, rows, activations, tokens, scalarTwin: false);
        var scalar = Run(matrix, rows, activations, tokens, scalarTwin: true);
        for (int i = 0; i < simd.Length; i++)
            AssertSameBits(scalar[i], simd[i], $"y[{i / rows}, {i % rows}]");
        int rowBytes = blocks * BlockBytes, activationRowBytes = blocks * ActivationBlockBytes;
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                var w = matrix.AsSpan(r * rowBytes, rowBytes);
                var y = activations.AsSpan(t * activationRowBytes, activationRowBytes);
                double tolerance = Tolerance(blocks, w, y);
                Assert.True(Math.Abs(simd[t * rows + r] - DotQ4_K.Scalar(w, y)) <= tolerance, $"y[{t}, {r}] = {simd[t * rows + r]}, DotQ4_K.Scalar {DotQ4_K.Scalar(w, y)}");
            }
        }
    }

    [Fact]
    public void Bad_shapes_are_refused_naming_the_argument()
    {
        var matrix = new byte[9 * 2 * BlockBytes];
        var group = new byte[2 * InterleavedQ4_K.GroupBlockBytes];
        Assert.Equal("matrix", Assert.Throws<ArgumentException>(() => InterleavedQ4_K.Repack(matrix, 8, 512, 0, group)).ParamName);
        Assert.Equal("cols", Assert.Throws<ArgumentException>(() => InterleavedQ4_K.Repack(matrix, 9, 384, 0, group)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => InterleavedQ4_K.Repack(matrix, 9, 512, 2, group));
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => InterleavedQ4_K.Repack(matrix, 9, 512, 1, new byte[10])).ParamName);

        var groups = new byte[2 * group.Length];
        var activations = new byte[3 * 2 * ActivationBlockBytes];
        Assert.Equal("activations", Assert.Throws<ArgumentException>(() =>
            InterleavedQ4_K.Dot(groups, 9, activations.AsSpan(1), new float[27], 9)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() =>
            InterleavedQ4_K.Dot(groups, 9, activations, new float[26], 9)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() =>
            InterleavedQ4_K.Dot(groups.AsSpan(1), 9, activations, new float[27], 9)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => InterleavedQ4_K.Dot(groups, 9, activations, new float[27], 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => InterleavedQ4_K.Scalar(groups, 0, activations, new float[27], 9));
    }

    [Fact]
    public void Q4_K_has_this_repacked_layout_in_the_quant_table()
    {
        Assert.Same(InterleavedQ4_K.Layout, Q4.Repacked);
        Assert.Equal(InterleavedQ4_K.Bytes(100, 512), Q4.RepackedBytes(100, 512));
        Assert.Equal(8 * 144, InterleavedQ4_K.GroupBlockBytes);
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
        var expected = new float[tokens * rows];
        InterleavedQ4_K.Scalar(groups, rows, activations, expected, rows);
        for (int i = 0; i < y.Length; i++)
            AssertSameBits(expected[i], y[i], $"[{rows}, {cols}] × {tokens} tokens on {threads} threads: y[{i / rows}, {i % rows}]");
    }

    [Fact]
    public unsafe void Multiply_allocates_nothing_once_warmed_up()
    {
        const int rows = 64, cols = 512, nTokens = 9;
        var groups = new byte[InterleavedQ4_K.Bytes(rows, cols)];
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
        var groups = new byte[InterleavedQ4_K.Bytes(8, 256)];
        unsafe
        {
            fixed (byte* w = groups)
            {
                var pointer = (nint)w;
                Assert.Equal("cols", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(Q4, (byte*)pointer, 8, 128, new float[128], new float[8])).ParamName);
                Assert.Equal("x", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(Q4, (byte*)pointer, 8, 256, new float[257], new float[8])).ParamName);
                Assert.Equal("y", Assert.Throws<ArgumentException>(() => matmul.MultiplyRepacked(Q4, (byte*)pointer, 8, 256, new float[256], new float[7])).ParamName);
            }
        }
    }

    /// <summary>Random Q4_K rows [rows, blocks·256] and Q8_K activation rows [tokens, blocks·256].</summary>
    private static (byte[] Matrix, byte[] Activations) RandomCase(int seed, int rows, int tokens, int blocks)
    {
        var rng = new Random(seed + 100 * rows + 10 * tokens + blocks);
        return (RandomBlocks.Make(GgmlType.Q4_K, rows * blocks, rng), RandomBlocks.Make(GgmlType.Q8_K, tokens * blocks, rng));
    }

    private static float[] Run(byte[] matrix, int rows, byte[] activations, int tokens, bool scalarTwin)
    {
        int blocks = activations.Length / tokens / ActivationBlockBytes;
        var groups = Repack(matrix, rows, blocks * 256);
        var output = new float[tokens * rows];
        if (scalarTwin)
            InterleavedQ4_K.Scalar(groups, rows, activations, output, rows);
        else
            InterleavedQ4_K.Dot(groups, rows, activations, output, rows);
        return output;
    }

    private static byte[] Repack(byte[] matrix, int rows, int cols)
    {
        var groups = new byte[InterleavedQ4_K.Bytes(rows, cols)];
        int groupBytes = groups.Length / InterleavedQ4_K.Groups(rows);
        for (int g = 0; g < InterleavedQ4_K.Groups(rows); g++)
            InterleavedQ4_K.Repack(matrix, rows, cols, g, groups.AsSpan(g * groupBytes, groupBytes));
        return groups;
    }

    /// <summary>
    /// How far the kernel may be from <see cref="DotQ4_K.Scalar"/>: both hold the same exact integers per block and
    /// differ only in how the block terms d·dy·q and dmin·dy·m are rounded and summed. Per block the kernel rounds
    /// 6 times (two int→float conversions, two scale products, two fmas), the reference 8 (the same conversions,
    /// four products, a difference, a sum); each rounding is within 2^-24 of a partial sum no larger than the
    /// magnitude of all terms.
    /// </summary>
    private static double Tolerance(int blocks, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations) =>
        14 * blocks * Math.Pow(2, -24) * Magnitude(weights, activations) + 1e-30;

    /// <summary>Σ over blocks of |dy|·(|d|·Σ_s scale·Σ q·|y| + |dmin|·Σ_s min·|Σ y|): the size of the terms that are rounded.</summary>
    private static double Magnitude(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations)
    {
        double magnitude = 0;
        for (int b = 0; b < weights.Length / BlockBytes; b++)
        {
            var x = weights.Slice(b * BlockBytes, BlockBytes);
            var y = activations.Slice(b * ActivationBlockBytes, ActivationBlockBytes);
            double d = Math.Abs((double)BinaryPrimitives.ReadHalfLittleEndian(x));
            double dmin = Math.Abs((double)BinaryPrimitives.ReadHalfLittleEndian(x[2..]));
            for (int s = 0; s < 8; s++)
            {
                var (scale, min) = Quant.Q4_K.ScaleMin(x.Slice(4, 12), s);
                double dot = 0, sum = 0;
                for (int l = 0; l < 32; l++)
                {
                    int q = (x[16 + 32 * (s / 2) + l] >> (4 * (s % 2))) & 0x0F;
                    sbyte q8 = (sbyte)y[4 + 32 * s + l];
                    dot += q * Math.Abs((int)q8);
                    sum += q8;
                }

                magnitude += Math.Abs((double)BinaryPrimitives.ReadSingleLittleEndian(y)) * (d * scale * dot + dmin * min * Math.Abs(sum));
            }
        }

        return magnitude;
    }

    private static void WriteHalf(byte[] matrix, int block, int offset, ushort bits) =>
        BinaryPrimitives.WriteUInt16LittleEndian(matrix.AsSpan(block * BlockBytes + offset), bits);

    private static void AssertSameBits(float expected, float actual, string what) =>
        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"{what}: {actual}, expected {expected}");
}
