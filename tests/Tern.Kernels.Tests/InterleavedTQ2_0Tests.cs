using System.Buffers.Binary;
using Tern.Gguf;
using Tern.Kernels.Dot;

namespace Tern.Kernels.Tests;

/// <summary>
/// Ternary rows (TQ2_0, and TQ1_0 decoded at repack) repacked sixteen at a time: the SIMD kernel equals its scalar twin
/// bit for bit (both do the same integer sums and float operations), a token gets the same bits alone and in a batch,
/// the results are the TQ2_0 / TQ1_0 · Q8_K dot products, and both types' rows of the quant table reach the kernel
/// through <see cref="MatMul.MultiplyRepacked"/>. With AVX2 off (.ci/run) the SIMD entry point takes the
/// scalar path.
/// </summary>
public class InterleavedTQ2_0Tests
{
    private static readonly QuantType Q8K = QuantTypes.Get(GgmlType.Q8_K);

    // One row, whole groups and a partial last group; one token to nine (pairs and a last odd token); 1 to 5 blocks.
    public static TheoryData<GgmlType, int, int, int> TypesRowsTokensAndBlocks()
    {
        var data = new TheoryData<GgmlType, int, int, int>();
        foreach (var type in new[] { GgmlType.TQ2_0, GgmlType.TQ1_0 })
        {
            foreach (var (rows, tokens, blocks) in new[] { (1, 1, 1), (8, 1, 2), (9, 2, 3), (16, 3, 2), (17, 4, 5), (24, 5, 1), (3, 6, 2), (40, 7, 2), (13, 8, 1), (33, 9, 2) })
                data.Add(type, rows, tokens, blocks);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TypesRowsTokensAndBlocks))]
    public void Kernel_equals_its_scalar_twin_bit_for_bit(GgmlType type, int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(type, 0, rows, tokens, blocks);
        if (rows > 8)
        {
            // Scales of every kind a file may hold: zero, subnormal, negative, the largest half.
            WriteScale(type, matrix, 0, 0);
            WriteScale(type, matrix, 1, 0x0001);
            WriteScale(type, matrix, 2, 0x83FF);
            WriteScale(type, matrix, 3, 0x7BFF);
        }

        var (simd, scalar) = (Run(type, matrix, rows, activations, tokens, scalarTwin: false), Run(type, matrix, rows, activations, tokens, scalarTwin: true));
        for (int i = 0; i < simd.Length; i++)
            AssertSameBits(scalar[i], simd[i], $"{type} {rows}x{tokens}, {blocks} blocks, y[{i / rows}, {i % rows}]");
    }

    [Theory]
    [MemberData(nameof(TypesRowsTokensAndBlocks))]
    public void A_token_gets_the_same_bits_alone_and_in_a_batch(GgmlType type, int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(type, 7, rows, tokens, blocks);
        var batch = Run(type, matrix, rows, activations, tokens, scalarTwin: false);
        int rowBytes = blocks * Q8K.BytesPerBlock;
        for (int t = 0; t < tokens; t++)
        {
            var alone = Run(type, matrix, rows, activations.AsSpan(t * rowBytes, rowBytes).ToArray(), 1, scalarTwin: false);
            for (int r = 0; r < rows; r++)
                AssertSameBits(alone[r], batch[t * rows + r], $"{type} {rows}x{tokens}, {blocks} blocks, y[{t}, {r}] alone vs in the batch");
        }
    }

    [Theory]
    [MemberData(nameof(TypesRowsTokensAndBlocks))]
    public void Results_are_the_dot_products_of_the_original_rows(GgmlType type, int rows, int tokens, int blocks)
    {
        var (matrix, activations) = RandomCase(type, 31, rows, tokens, blocks);
        var results = Run(type, matrix, rows, activations, tokens, scalarTwin: false);
        var weights = QuantTypes.Get(type);
        int rowBytes = blocks * weights.BytesPerBlock, activationRowBytes = blocks * Q8K.BytesPerBlock;
        for (int r = 0; r < rows; r++)
        {
            var row = matrix.AsSpan(r * rowBytes, rowBytes);
            var w = new float[blocks * 256];
            weights.ToFloat(row, w);
            for (int t = 0; t < tokens; t++)
            {
                var activationRow = activations.AsSpan(t * activationRowBytes, activationRowBytes);
                var y = new float[blocks * 256];
                Q8K.ToFloat(activationRow, y);
                double magnitude = 0;
                for (int i = 0; i < w.Length; i++)
                    magnitude += Math.Abs((double)w[i] * y[i]);

                // Both sum exact integers per block; only the float products and sums of the block results round.
                float expected = weights.DotScalar!(row, activationRow);
                Assert.True(Math.Abs(results[t * rows + r] - expected) <= 1e-6 * magnitude + 1e-30,
                    $"{type} {rows}x{tokens}, {blocks} blocks, y[{t}, {r}] = {results[t * rows + r]}, expected {expected}");
            }
        }
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

        Assert.Equal(Repack(GgmlType.TQ2_0, tq2, rows, cols), Repack(GgmlType.TQ1_0, tq1, rows, cols));
    }

    [Fact]
    public void Extreme_weights_and_activations_stay_exact()
    {
        // Codes 2 (and 3, which no quantizer writes) against activations ±127: the int16 sums of the AVX2 path at
        // their limits, which the scalar twin (plain ints) would expose if they saturated.
        const int rows = 16, tokens = 5, blocks = 3;
        var matrix = RandomBlocks.Make(GgmlType.TQ2_0, rows * blocks, new Random(5));
        for (int b = 0; b < rows * blocks; b++)
            matrix.AsSpan(b * 66, 64).Fill(b % 3 == 0 ? (byte)0xFF : b % 3 == 1 ? (byte)0xAA : (byte)0x00);
        var activations = RandomBlocks.Make(GgmlType.Q8_K, tokens * blocks, new Random(6));
        for (int b = 0; b < tokens * blocks; b++)
        {
            activations.AsSpan(b * Q8K.BytesPerBlock + 4, 256).Fill(b % 2 == 0 ? unchecked((byte)-127) : (byte)127);
            for (int g = 0; g < 16; g++)
                BinaryPrimitives.WriteInt16LittleEndian(activations.AsSpan(b * Q8K.BytesPerBlock + 260 + 2 * g), (short)(b % 2 == 0 ? -16 * 127 : 16 * 127));
        }

        var simd = Run(GgmlType.TQ2_0, matrix, rows, activations, tokens, scalarTwin: false);
        var scalar = Run(GgmlType.TQ2_0, matrix, rows, activations, tokens, scalarTwin: true);
        for (int i = 0; i < simd.Length; i++)
            AssertSameBits(scalar[i], simd[i], $"y[{i / rows}, {i % rows}]");
    }

    [Fact]
    public void Bad_shapes_are_refused_naming_the_argument()
    {
        var matrix = new byte[17 * 2 * 66];
        var group = new byte[2 * InterleavedTQ2_0.GroupBlockBytes];
        Assert.Equal("matrix", Assert.Throws<ArgumentException>(() => InterleavedTQ2_0.Repack(matrix, 16, 512, 0, group)).ParamName);
        Assert.Equal("matrix", Assert.Throws<ArgumentException>(() => InterleavedTQ2_0.RepackTQ1_0(matrix, 17, 512, 0, group)).ParamName);
        Assert.Equal("cols", Assert.Throws<ArgumentException>(() => InterleavedTQ2_0.Repack(matrix, 17, 384, 0, group)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => InterleavedTQ2_0.Repack(matrix, 17, 512, 2, group));
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => InterleavedTQ2_0.Repack(matrix, 17, 512, 1, new byte[10])).ParamName);

        var groups = new byte[2 * group.Length];
        var activations = new byte[3 * 2 * Q8K.BytesPerBlock];
        Assert.Equal("activations", Assert.Throws<ArgumentException>(() =>
            InterleavedTQ2_0.Dot(groups, 17, activations, new int[5], new float[51], 17)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() =>
            InterleavedTQ2_0.Dot(groups, 17, activations, new int[6], new float[50], 17)).ParamName);
        Assert.Equal("groups", Assert.Throws<ArgumentException>(() =>
            InterleavedTQ2_0.Dot(groups.AsSpan(1), 17, activations, new int[6], new float[51], 17)).ParamName);
        Assert.Equal("activations", Assert.Throws<ArgumentException>(() =>
            InterleavedTQ2_0.BlockOffsets(activations, new int[5])).ParamName);
    }

    public static TheoryData<GgmlType, int, int, int, int> MatMulCases() => new()
    {
        { GgmlType.TQ2_0, 16, 256, 1, 1 }, { GgmlType.TQ1_0, 100, 512, 1, 2 }, { GgmlType.TQ2_0, 36, 256, 13, 2 },
        { GgmlType.TQ1_0, 1000, 256, 3, 2 }, { GgmlType.TQ2_0, 24, 8192, 9, 2 },
    };

    [Theory]
    [MemberData(nameof(MatMulCases))]
    public void Multiply_through_the_quant_table_gives_the_kernel_results_for_every_token_and_row(GgmlType type, int rows, int cols, int tokens, int threads)
    {
        var weights = QuantTypes.Get(type);
        var random = new Random(rows + cols + tokens);
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(random.NextDouble() * 2 - 1);
        var plain = new float[rows * cols];
        for (int i = 0; i < plain.Length; i++)
            plain[i] = (float)(random.NextDouble() * 2 - 1);
        var matrix = new byte[weights.RowBytes(cols) * rows];
        weights.FromFloat!(plain, matrix);
        var groups = Repack(type, matrix, rows, cols);
        Assert.Equal(weights.RepackedBytes(rows, cols), groups.Length);

        using var pool = new WorkerPool(threads);
        var y = new float[tokens * rows];
        unsafe
        {
            fixed (byte* w = groups)
                new MatMul(pool).MultiplyRepacked(weights, w, rows, cols, x, y);
        }

        // The same tokens quantized as MatMul does, through the kernel's scalar twin in one call.
        var activations = new byte[Q8K.RowBytes(cols) * tokens];
        Q8K.FromFloat!(x, activations);
        var expected = new float[tokens * rows];
        InterleavedTQ2_0.Scalar(groups, rows, activations, Offsets(activations, cols / 256, tokens), expected, rows);
        for (int i = 0; i < y.Length; i++)
            AssertSameBits(expected[i], y[i], $"{type} [{rows}, {cols}] × {tokens} tokens on {threads} threads: y[{i / rows}, {i % rows}]");
    }

    /// <summary>Random TQ2_0 or TQ1_0 rows [rows, blocks·256] and Q8_K activation rows [tokens, blocks·256].</summary>
    private static (byte[] Matrix, byte[] Activations) RandomCase(GgmlType type, int seed, int rows, int tokens, int blocks)
    {
        var rng = new Random(seed + 100 * rows + 10 * tokens + blocks);
        return (RandomBlocks.Make(type, rows * blocks, rng), RandomBlocks.Make(GgmlType.Q8_K, tokens * blocks, rng));
    }

    private static float[] Run(GgmlType type, byte[] matrix, int rows, byte[] activations, int tokens, bool scalarTwin)
    {
        int blocks = activations.Length / tokens / Q8K.BytesPerBlock;
        var groups = Repack(type, matrix, rows, blocks * 256);
        var offsets = Offsets(activations, blocks, tokens);
        var output = new float[tokens * rows];
        if (scalarTwin)
            InterleavedTQ2_0.Scalar(groups, rows, activations, offsets, output, rows);
        else
            InterleavedTQ2_0.Dot(groups, rows, activations, offsets, output, rows);
        return output;
    }

    /// <summary>The matrix in its type's repacked layout, as the quant table gives it.</summary>
    private static byte[] Repack(GgmlType type, byte[] matrix, int rows, int cols)
    {
        var layout = QuantTypes.Get(type).Repacked!;
        var groups = new byte[InterleavedTQ2_0.Bytes(rows, cols)];
        int groupBytes = groups.Length / InterleavedTQ2_0.Groups(rows);
        for (int g = 0; g < InterleavedTQ2_0.Groups(rows); g++)
            layout.Repack(matrix, rows, cols, g, groups.AsSpan(g * groupBytes, groupBytes));
        return groups;
    }

    private static int[] Offsets(byte[] activations, int blocks, int tokens)
    {
        var offsets = new int[blocks * tokens];
        int rowBytes = blocks * Q8K.BytesPerBlock;
        for (int t = 0; t < tokens; t++)
            InterleavedTQ2_0.BlockOffsets(activations.AsSpan(t * rowBytes, rowBytes), offsets.AsSpan(t * blocks, blocks));
        return offsets;
    }

    private static void WriteScale(GgmlType type, byte[] matrix, int block, ushort bits)
    {
        var weights = QuantTypes.Get(type);
        BinaryPrimitives.WriteUInt16LittleEndian(matrix.AsSpan(block * weights.BytesPerBlock + weights.BytesPerBlock - 2), bits);
    }

    private static void AssertSameBits(float expected, float actual, string what) =>
        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"{what}: {actual}, expected {expected}");
}
