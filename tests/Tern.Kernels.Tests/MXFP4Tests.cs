using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;
using Tern.Gguf;
using Tern.Kernels.Dot;
using Tern.Kernels.Quant;

namespace Tern.Kernels.Tests;

/// <summary>
/// MXFP4 (gpt-oss's expert type; no dequantization golden exists): the dequantizer on hand-made blocks, the quantizer's
/// scale and rounding rules (ggml's quantize_row_mxfp4_ref), and the dot product against Q8_0 activations, SIMD
/// against its scalar twin and the scalar twin against values decoded here from the E2M1 bits themselves.
/// </summary>
public class MXFP4Tests
{
    /// <summary>E2M1 from its bits (sign | 2 exponent bits | 1 mantissa bit, bias 1), independently of the kernels' table.</summary>
    private static double E2M1(int code)
    {
        int exponent = (code >> 1) & 3, mantissa = code & 1;
        double magnitude = exponent == 0 ? 0.5 * mantissa : (1 + 0.5 * mantissa) * Math.ScaleB(1.0, exponent - 1);
        return (code & 8) != 0 ? -magnitude : magnitude;
    }

    /// <summary>E8M0: 2^(e − 127).</summary>
    private static double E8M0(int e) => Math.ScaleB(1.0, e - 127);

    private static byte[] Block(byte e, Func<int, int> code)
    {
        var block = new byte[MXFP4.BlockBytes];
        block[0] = e;
        for (int j = 0; j < 16; j++)
        {
            block[1 + j] = (byte)(code(j) | code(j + 16) << 4);
        }

        return block;
    }

    [Fact]
    public void Half_scale_is_two_to_the_e_minus_128_for_every_byte()
    {
        for (int e = 0; e < 256; e++)
        {
            float expected = (float)Math.ScaleB(1.0, e - 128); // 2^-128 and 2^-127 are float subnormals, exactly
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(MXFP4.HalfScale((byte)e)),
                $"e = {e}: {MXFP4.HalfScale((byte)e)} vs 2^{e - 128}");
        }
    }

    [Fact]
    public void Dequantize_decodes_every_code_with_low_nibbles_first()
    {
        // Elements 0..15 carry codes 0..15 (low nibbles), elements 16..31 codes 15..0 (high nibbles); e = 127 is scale 1.
        var block = Block(127, j => j < 16 ? j : 31 - j);
        var y = new float[32];
        MXFP4.Dequantize(block, y);
        float[] e2m1 = [0, 0.5f, 1, 1.5f, 2, 3, 4, 6, 0, -0.5f, -1, -1.5f, -2, -3, -4, -6];
        for (int j = 0; j < 16; j++)
        {
            Assert.Equal(e2m1[j], y[j]);
            Assert.Equal(e2m1[15 - j], y[16 + j]);
        }

        Assert.False(float.IsNegative(y[8]), "code 8 (−0) decodes to +0 as in ggml, whose table holds the integer 0");
    }

    [Theory]
    [InlineData(0)]   // 2^-127: the values are float subnormals
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(100)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(200)]
    [InlineData(253)] // 6 · 2^126 still finite
    [InlineData(254)] // 6 · 2^127 overflows to infinity, as in ggml (12 · 2^126)
    [InlineData(255)] // never NaN: ggml reads 255 as 2^128 too
    public void Dequantize_scales_every_code_by_two_to_the_e_minus_127(int e)
    {
        var block = Block((byte)e, j => j % 16);
        var y = new float[32];
        MXFP4.Dequantize(block, y);
        for (int j = 0; j < 32; j++)
        {
            float expected = (float)(E2M1(j % 16) * E8M0(e));
            Assert.True(expected.Equals(y[j]) || (expected == 0 && y[j] == 0), $"e = {e}, code {j % 16}: {y[j]} vs {expected}");
        }
    }

    [Fact]
    public void Dequantize_matches_the_bit_decoding_on_random_blocks()
    {
        var rng = new Random(39);
        var row = RandomBlocks.Make(GgmlType.MXFP4, 64, rng);
        rng.NextBytes(row.AsSpan(0, 17)); // one block of any exponent byte
        var y = new float[64 * 32];
        MXFP4.Dequantize(row, y);
        Assert.Equal(Decode(row), y.Select(v => (double)v));
    }

    [Fact]
    public void Quantize_takes_the_exponent_from_the_largest_magnitude()
    {
        // max |x| = 0.75 = 6·2^-3: ⌊log2 0.75⌋ − 2 + 127 = 124, so the scale is 2^-3 and the largest weight is code 7 (6).
        var x = new float[32];
        x[5] = -0.25f;
        x[20] = 0.75f;
        var block = new byte[17];
        MXFP4.Quantize(x, block);
        Assert.Equal(124, block[0]);
        Assert.Equal(7, block[1 + 4] >> 4);          // element 20: high nibble of qs[4]
        Assert.Equal(8 | 4, block[1 + 5] & 0x0F);    // element 5: −0.25 = −2 · 2^-3, code 12
        Assert.Equal(0, block[1 + 0]);                // zeros are code 0, not 8 (−0)

        // Beyond the largest value the exponent allows (7 > 6 · 2^0): clamped to code 7.
        x.AsSpan().Clear();
        x[0] = 7;
        MXFP4.Quantize(x, block);
        Assert.Equal(127, block[0]);
        Assert.Equal(7, block[1] & 0x0F);
    }

    [Fact]
    public void Quantize_rounds_to_the_nearest_value_and_the_first_in_table_order_on_a_tie()
    {
        // Scale 2^0 (e = 127, from max 6); every other weight sits between two E2M1 values or on one.
        float[] x = [6, 5, -5, 0.25f, -0.25f, 2.4f, 2.6f, 3.5f, 0.74f, 0.76f, 1.25f, -1.75f, 5.1f, -6.5f, 0, -0.0f, .. new float[16]];
        // Ties take the lower code: 5 → 4 (code 6, not 7), −5 → −4 (14, not 15), ±0.25 → +0 (0, not 1, 8 or 9),
        // 3.5 → 3 (5, not 6), 1.25 → 1 (2, not 3), −1.75 → −1.5 (11, not 12).
        int[] expected = [7, 6, 14, 0, 0, 4, 5, 5, 1, 2, 2, 11, 7, 15, 0, 0];
        var block = new byte[17];
        MXFP4.Quantize(x, block);
        Assert.Equal(127, block[0]);
        for (int j = 0; j < 16; j++)
        {
            Assert.True(expected[j] == (block[1 + j] & 0x0F), $"x = {x[j]}: code {block[1 + j] & 0x0F}, expected {expected[j]}");
        }
    }

    [Fact]
    public void Quantize_maps_a_zero_block_to_exponent_0_and_code_0()
    {
        var block = new byte[17];
        block.AsSpan().Fill(0xAB);
        MXFP4.Quantize(new float[32], block);
        Assert.All(block, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Quantize_clamps_the_exponent_of_tiny_blocks_to_0()
    {
        // max |x| = 2^-140: ggml's cast of the negative exponent is undefined; the smallest scale is the nearest.
        var x = new float[32];
        x[3] = MathF.ScaleB(1, -140);
        var block = new byte[17];
        MXFP4.Quantize(x, block);
        Assert.Equal(0, block[0]);
        var y = new float[32];
        MXFP4.Dequantize(block, y);
        Assert.Equal(0f, y[3]); // 2^-140 is below half of the smallest step 2^-128
    }

    [Fact]
    public void Requantizing_dequantized_blocks_gives_the_same_bytes_when_a_weight_is_6_times_the_scale()
    {
        var rng = new Random(17);
        for (int trial = 0; trial < 200; trial++)
        {
            // Codes other than 8 (−0 comes back as +0) and one ±6 somewhere; exponents over the normal range.
            var codes = Enumerable.Range(0, 32).Select(_ => rng.Next(15) is var c && c >= 8 ? c + 1 : c).ToArray();
            codes[rng.Next(32)] = rng.Next(2) == 0 ? 7 : 15;
            var block = Block((byte)rng.Next(4, 250), j => codes[j]);
            var y = new float[32];
            MXFP4.Dequantize(block, y);
            var again = new byte[17];
            MXFP4.Quantize(y, again);
            Assert.Equal(block, again);
        }
    }

    [Fact]
    public void Round_trip_relative_error_on_gaussian_data_is_within_bound()
    {
        // 4.25 bits per weight with power-of-two scales: ggml's rules reach 0.114 on this data; the bound sits 20 % above.
        var rng = new Random(42);
        var x = new float[32 * 512];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        var blocks = new byte[512 * 17];
        MXFP4.Quantize(x, blocks);
        var y = new float[x.Length];
        MXFP4.Dequantize(blocks, y);
        double error = 0, norm = 0;
        for (int i = 0; i < x.Length; i++)
        {
            error += (x[i] - y[i]) * (double)(x[i] - y[i]);
            norm += x[i] * (double)x[i];
        }

        double relative = Math.Sqrt(error / norm);
        Assert.True(relative < 0.137, $"relative RMS error {relative}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(63)]
    [InlineData(64)]
    public void Dot_matches_scalar_reference_on_random_blocks(int blocks)
    {
        var rng = new Random(3900 + blocks);
        for (int trial = 0; trial < 5; trial++)
        {
            var weights = RandomBlocks.Make(GgmlType.MXFP4, blocks, rng);
            var activations = RandomBlocks.Make(GgmlType.Q8_0, blocks, rng);
            float expected = DotMXFP4.Scalar(weights, activations);
            float actual = DotMXFP4.Dot(weights, activations);
            if (!(Avx2.IsSupported && Fma.IsSupported))
            {
                // Without AVX2 the entry point is the scalar twin itself.
                Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"x{blocks}: {actual} vs {expected}");
                continue;
            }

            // Both sum the same exact per-block integers times the same exact scale products; only the float order differs.
            double tolerance = 1e-5 * Magnitude(weights, activations);
            Assert.True(Math.Abs(actual - expected) <= tolerance, $"x{blocks}: dot {actual} vs scalar {expected} (tolerance {tolerance})");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    public void Scalar_matches_dot_of_values_decoded_from_the_bits(int blocks)
    {
        var rng = new Random(7039 + blocks);
        for (int trial = 0; trial < 5; trial++)
        {
            var weights = RandomBlocks.Make(GgmlType.MXFP4, blocks, rng);
            var activations = RandomBlocks.Make(GgmlType.Q8_0, blocks, rng);
            var x = Decode(weights);
            var y = DecodeQ8_0(activations);
            double expected = 0;
            for (int i = 0; i < x.Length; i++)
            {
                expected += x[i] * y[i];
            }

            foreach (var dot in new Func<byte[], byte[], float>[] { (w, a) => DotMXFP4.Scalar(w, a), (w, a) => DotMXFP4.Dot(w, a) })
            {
                float actual = dot(weights, activations);
                double tolerance = 1e-5 * Magnitude(weights, activations);
                Assert.True(Math.Abs(actual - expected) <= tolerance, $"x{blocks}: {actual} vs decoded {expected} (tolerance {tolerance})");
            }
        }
    }

    [Fact]
    public void Dot_with_extreme_quants_matches_scalar_and_exact_value()
    {
        // Every weight ±6 (table ±12) against ±127 activations: the largest pairwise sums vpmaddubsw sees (2·12·127).
        const int blocks = 8;
        var weights = new byte[blocks * 17];
        var activations = new byte[blocks * 34];
        double exact = 0;
        for (int b = 0; b < blocks; b++)
        {
            weights[b * 17] = 120;
            weights.AsSpan(b * 17 + 1, 16).Fill(b % 4 < 2 ? (byte)0x77 : (byte)0xFF);
            BinaryPrimitives.WriteHalfLittleEndian(activations.AsSpan(b * 34), (Half)0.5);
            activations.AsSpan(b * 34 + 2, 32).Fill((byte)(sbyte)(b % 2 == 0 ? 127 : -127));
            exact += 32 * (b % 4 < 2 ? 6.0 : -6.0) * E8M0(120) * 0.5 * (b % 2 == 0 ? 127 : -127);
        }

        Assert.Equal(exact, DotMXFP4.Scalar(weights, activations), 1e-9);
        Assert.Equal(exact, DotMXFP4.Dot(weights, activations), 1e-9);
    }

    [Fact]
    public void Truncated_or_mismatched_rows_are_refused()
    {
        var rng = new Random(5);
        var weights = RandomBlocks.Make(GgmlType.MXFP4, 3, rng);
        var activations = RandomBlocks.Make(GgmlType.Q8_0, 3, rng);
        var e = Assert.Throws<ArgumentException>(() => DotMXFP4.Dot(weights[..^1], activations));
        Assert.Contains("not whole 17-byte blocks", e.Message);
        Assert.Throws<ArgumentException>(() => DotMXFP4.Scalar(weights[..^1], activations));
        Assert.Throws<ArgumentException>(() => DotMXFP4.Dot(weights, activations[..^34]));
        Assert.Throws<ArgumentException>(() => MXFP4.Dequantize(weights[..^1], new float[96]));
        Assert.Throws<ArgumentException>(() => MXFP4.Dequantize(weights, new float[95]));
        Assert.Throws<ArgumentException>(() => MXFP4.Quantize(new float[96], new byte[50]));
    }

    /// <summary>Σ |x_i·y_i|: the scale against which float rounding is judged.</summary>
    private static double Magnitude(byte[] weights, byte[] activations) =>
        Decode(weights).Zip(DecodeQ8_0(activations), (x, y) => Math.Abs(x * y)).Sum();

    private static double[] Decode(byte[] row)
    {
        var values = new double[row.Length / 17 * 32];
        for (int b = 0; b < row.Length / 17; b++)
        {
            var x = row.AsSpan(b * 17, 17);
            for (int j = 0; j < 32; j++)
            {
                int code = j < 16 ? x[1 + j] & 0x0F : x[1 + j - 16] >> 4;
                values[b * 32 + j] = (float)(E2M1(code) * E8M0(x[0]));
            }
        }

        return values;
    }

    private static double[] DecodeQ8_0(byte[] row)
    {
        var values = new double[row.Length / 34 * 32];
        for (int b = 0; b < row.Length / 34; b++)
        {
            double d = (double)BinaryPrimitives.ReadHalfLittleEndian(row.AsSpan(b * 34));
            for (int j = 0; j < 32; j++)
            {
                values[b * 32 + j] = d * (sbyte)row[b * 34 + 2 + j];
            }
        }

        return values;
    }
}
