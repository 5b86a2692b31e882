using System.Buffers.Binary;
using Tern.Gguf;

namespace Tern.Kernels.Tests;

/// <summary>
/// The multi-token dot kernels (several weight rows against several activation rows): every result equals the
/// single-row dot of the same pair bit for bit (SIMD against SIMD, scalar twin against scalar twin), and the
/// SIMD kernel matches its scalar twin within float rounding. Runs with AVX2 off too (.ci/run), where the SIMD
/// entry point takes the scalar path.
/// </summary>
public class DotMultiTests
{
    private static readonly GgmlType[] MultiTypes = [.. QuantTypes.All.Where(q => q.DotMulti is not null).Select(q => q.Type)];

    public static TheoryData<GgmlType, int, int, int> TypesRowsTokensAndBlocks()
    {
        var data = new TheoryData<GgmlType, int, int, int>();
        foreach (var type in MultiTypes)
        {
            // Tokens below, at and past the kernel width, with remainders; one row, row pairs and a row left over;
            // 1, 2 and an odd number of blocks (the even/odd accumulators of the 32-element types).
            foreach (var (rows, tokens, blocks) in new[] { (1, 1, 2), (2, 3, 1), (1, 4, 1), (2, 4, 2), (3, 4, 7), (1, 5, 3), (5, 8, 8), (2, 11, 2) })
            {
                data.Add(type, rows, tokens, blocks);
            }
        }

        return data;
    }

    public static TheoryData<GgmlType> Types() => new(MultiTypes);

    [Fact]
    public void The_types_benchmarks_and_real_models_use_have_a_multi_token_kernel()
    {
        Assert.Superset(new HashSet<GgmlType> { GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.TQ2_0 }, MultiTypes.ToHashSet());
        foreach (var q in QuantTypes.All.Where(q => q.DotMulti is not null))
        {
            Assert.NotNull(q.DotMultiScalar);
            Assert.NotNull(q.Dot);
            Assert.InRange(q.DotMultiTokens, 2, 64);
        }
    }

    [Theory]
    [MemberData(nameof(TypesRowsTokensAndBlocks))]
    public void Multi_dot_equals_the_single_row_dot_bit_for_bit(GgmlType type, int rows, int tokens, int blocks)
    {
        var q = QuantTypes.Get(type);
        var rng = new Random(1000 * (int)type + 100 * rows + 10 * tokens + blocks);
        for (int trial = 0; trial < 3; trial++)
        {
            var (weights, activations, rowBytes, activationRowBytes) = MakeRows(q, rows, blocks, tokens, rng);
            var results = new float[rows * tokens];
            var scalarResults = new float[rows * tokens];
            q.DotMulti!(weights, rows, activations, results);
            q.DotMultiScalar!(weights, rows, activations, scalarResults);
            for (int r = 0; r < rows; r++)
            {
                var row = weights.AsSpan(r * rowBytes, rowBytes);
                for (int t = 0; t < tokens; t++)
                {
                    var activation = activations.AsSpan(t * activationRowBytes, activationRowBytes);
                    var what = $"{type} {rows}x{tokens}, {blocks} blocks, row {r} token {t}";
                    AssertSameBits(q.Dot!(row, activation), results[r * tokens + t], what + ": multi vs single-row dot");
                    AssertSameBits(q.DotScalar!(row, activation), scalarResults[r * tokens + t], what + ": scalar twins");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(TypesRowsTokensAndBlocks))]
    public void Multi_dot_matches_its_scalar_twin_on_random_blocks(GgmlType type, int rows, int tokens, int blocks)
    {
        var q = QuantTypes.Get(type);
        var rng = new Random(7000 + 1000 * (int)type + 100 * rows + 10 * tokens + blocks);
        var (weights, activations, rowBytes, activationRowBytes) = MakeRows(q, rows, blocks, tokens, rng);
        var results = new float[rows * tokens];
        var expected = new float[rows * tokens];
        q.DotMulti!(weights, rows, activations, results);
        q.DotMultiScalar!(weights, rows, activations, expected);
        for (int i = 0; i < results.Length; i++)
        {
            int r = i / tokens, t = i % tokens;
            // Both sum the same exact integers per block; only the float summation order differs.
            double tolerance = 1e-6 * Magnitude(q, weights.AsSpan(r * rowBytes, rowBytes), activations.AsSpan(t * activationRowBytes, activationRowBytes)) + 1e-30;
            Assert.True(Math.Abs(results[i] - expected[i]) <= tolerance,
                $"{type} {rows}x{tokens}, {blocks} blocks, row {r} token {t}: multi {results[i]} vs scalar twin {expected[i]} (tolerance {tolerance})");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Multi_dot_with_extreme_activations_equals_the_single_row_dot(GgmlType type)
    {
        // Activations all ±127 (the quantizers' limits) meet random weights: pairwise sums near the int16 limit.
        var q = QuantTypes.Get(type);
        const int rows = 3, tokens = 4, blocks = 4;
        var (weights, activations, rowBytes, activationRowBytes) = MakeRows(q, rows, blocks, tokens, new Random(3));
        var activation = QuantTypes.Get(q.DotActivation);
        for (int b = 0; b < activations.Length / activation.BytesPerBlock; b++)
        {
            var block = activations.AsSpan(b * activation.BytesPerBlock, activation.BytesPerBlock);
            sbyte value = b % 3 == 0 ? (sbyte)-127 : (sbyte)127;
            if (q.DotActivation == GgmlType.Q8_K)
            {
                block.Slice(4, 256).Fill((byte)value);
                for (int g = 0; g < 16; g++)
                {
                    BinaryPrimitives.WriteInt16LittleEndian(block[(260 + 2 * g)..], (short)(16 * value));
                }
            }
            else
            {
                block.Slice(2, 32).Fill((byte)value);
            }
        }

        if (type == GgmlType.Q8_0)
        {
            // The full int8 range of the weights too, −128 included.
            for (int b = 0; b < weights.Length / q.BytesPerBlock; b++)
            {
                weights.AsSpan(b * q.BytesPerBlock + 2, 32).Fill(b % 2 == 0 ? (byte)0x80 : (byte)0x7F);
            }
        }

        var results = new float[rows * tokens];
        q.DotMulti!(weights, rows, activations, results);
        for (int r = 0; r < rows; r++)
        {
            for (int t = 0; t < tokens; t++)
            {
                AssertSameBits(q.Dot!(weights.AsSpan(r * rowBytes, rowBytes), activations.AsSpan(t * activationRowBytes, activationRowBytes)),
                    results[r * tokens + t], $"{type} row {r} token {t}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Multi_dot_rejects_shapes_that_are_not_whole_rows(GgmlType type)
    {
        var q = QuantTypes.Get(type);
        var (weights, activations, _, _) = MakeRows(q, 2, 2, 4, new Random(5));
        Assert.Throws<ArgumentException>(() => q.DotMulti!(weights, 2, activations, new float[6]));
        Assert.Throws<ArgumentException>(() => q.DotMulti!(weights, 2, activations[..^1], new float[8]));
        Assert.Throws<ArgumentException>(() => q.DotMultiScalar!(weights, 2, activations, new float[10]));
        Assert.Throws<ArgumentException>(() => q.DotMulti!(weights[..^2], 2, activations, new float[8]));
        Assert.Throws<ArgumentException>(() => q.DotMulti!(weights, 3, activations, new float[12]));
        Assert.Throws<ArgumentOutOfRangeException>(() => q.DotMulti!(weights, 0, activations, []));
    }

    private static (byte[] Weights, byte[] Activations, int RowBytes, int ActivationRowBytes) MakeRows(QuantType q, int rows, int blocks, int tokens, Random rng)
    {
        var weights = RandomBlocks.Make(q.Type, rows * blocks, rng);                // [rows, blocks] back to back
        var activations = RandomBlocks.Make(q.DotActivation, blocks * tokens, rng); // [tokens, blocks] back to back
        return (weights, activations, weights.Length / rows, activations.Length / tokens);
    }

    /// <summary>Σ |w_i·x_i| of one weight row and one activation row: the scale float rounding is judged against.</summary>
    private static double Magnitude(QuantType q, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activationRow)
    {
        var w = new float[weights.Length / q.BytesPerBlock * q.BlockSize];
        var x = new float[w.Length];
        q.ToFloat(weights, w);
        QuantTypes.Get(q.DotActivation).ToFloat(activationRow, x);
        double sum = 0;
        for (int i = 0; i < w.Length; i++)
        {
            sum += Math.Abs((double)w[i] * x[i]);
        }

        return sum;
    }

    private static void AssertSameBits(float expected, float actual, string what) =>
        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
            $"{what}: expected {expected} (0x{BitConverter.SingleToUInt32Bits(expected):X8}), got {actual} (0x{BitConverter.SingleToUInt32Bits(actual):X8})");
}
