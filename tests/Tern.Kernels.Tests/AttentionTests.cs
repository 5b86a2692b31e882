using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Kernels.Tests;

/// <summary>
/// The tiled attention kernel (a group of query heads × consecutive tokens against one KV head, block by block):
/// its AVX2 path and scalar twin against the double-precision full softmax, with causal masking, and the property
/// batching relies on: a query's result does not depend on the tile it is computed in.
/// </summary>
public sealed class AttentionTests
{
    private const int KvHeads = 2;   // the tested KV head is the second one: its slice sits at an offset in each row

    /// <summary>A sequence's cache of one layer: positions × rows of [KvHeads · headDim] elements, keys and values, in their cache types.</summary>
    private sealed record Cache(byte[] Keys, GgmlType KeyType, byte[] Values, GgmlType ValueType, int HeadDim, int Length)
    {
        public int KeyStride => KvRows.RowBytes(KeyType, KvHeads * HeadDim);
        public int ValueStride => KvRows.RowBytes(ValueType, KvHeads * HeadDim);

        public static Cache Random(int length, int headDim, float keyRange, Random random, GgmlType keyType = GgmlType.F16, GgmlType valueType = GgmlType.F16)
        {
            int width = KvHeads * headDim;
            var keys = new byte[length * KvRows.RowBytes(keyType, width)];
            var values = new byte[length * KvRows.RowBytes(valueType, width)];
            var row = new float[width];
            for (int i = 0; i < length; i++)
            {
                for (int j = 0; j < width; j++)
                    row[j] = (float)((random.NextDouble() * 2 - 1) * keyRange);
                KvRows.Store(keyType, row, keys.AsSpan(i * KvRows.RowBytes(keyType, width)));
                for (int j = 0; j < width; j++)
                    row[j] = (float)(random.NextDouble() * 2 - 1);
                KvRows.Store(valueType, row, values.AsSpan(i * KvRows.RowBytes(valueType, width)));
            }

            return new Cache(keys, keyType, values, valueType, headDim, length);
        }

        /// <summary>One KV head's rows of positions [0, count) as floats: [count, headDim].</summary>
        public float[] Head(bool value, int kvHead, int count)
        {
            var type = value ? ValueType : KeyType;
            int stride = value ? ValueStride : KeyStride;
            var row = new float[KvHeads * HeadDim];
            var rows = new float[count * HeadDim];
            for (int i = 0; i < count; i++)
            {
                QuantTypes.Get(type).ToFloat((value ? Values : Keys).AsSpan(i * stride, stride), row);
                row.AsSpan(kvHead * HeadDim, HeadDim).CopyTo(rows.AsSpan(i * HeadDim));
            }

            return rows;
        }

        /// <summary>The head's slice of positions [start, start + n).</summary>
        public KvBlock Block(int kvHead, int start, int n)
        {
            int keyHead = KvRows.RowBytes(KeyType, HeadDim), valueHead = KvRows.RowBytes(ValueType, HeadDim);
            var keys = Keys.AsSpan(start * KeyStride + kvHead * keyHead, (n - 1) * KeyStride + keyHead);
            var values = Values.AsSpan(start * ValueStride + kvHead * valueHead, (n - 1) * ValueStride + valueHead);
            return new KvBlock(keys, KeyType, KeyStride, values, ValueType, ValueStride, start, n);
        }
    }

    /// <summary>Queries rounded to F16 (as the model does), [tokens, stride] with the group's heads at an offset.</summary>
    private static float[] RandomQueries(int tokens, int stride, Random random)
    {
        var q = new float[tokens * stride];
        for (int i = 0; i < q.Length; i++)
            q[i] = (float)(Half)(random.NextDouble() * 2 - 1);
        return q;
    }

    private delegate void AccumulateKernel(in AttentionTile tile, in KvBlock block, float scale, Span<float> scratch);

    /// <summary>
    /// Runs a tile of tokens at <paramref name="positions"/> (query rows at <paramref name="offset"/> in rows of
    /// <paramref name="stride"/>) over the cache's blocks of <paramref name="blockTokens"/> up to the last position.
    /// </summary>
    private static float[] RunTile(AccumulateKernel kernel, Cache cache, int kvHead, float[] q, int offset, int stride,
        int[] positions, int group, int blockTokens, float scale, int window = 0)
    {
        int d = cache.HeadDim;
        var output = new float[q.Length];
        output.AsSpan().Fill(float.NaN); // Begin must clear what the tile owns
        var states = new Attention.OnlineSoftmax[positions.Length * group];
        int length = (positions.Length - 1) * stride + group * d;
        var tile = new AttentionTile(q.AsSpan(offset, length), output.AsSpan(offset, length), states, positions, group, d, stride, window);
        var scratch = new float[Attention.ScratchLength(d)];
        scratch.AsSpan().Fill(float.NaN); // the kernel must not depend on scratch contents
        Attention.Begin(tile);
        int count = positions[^1] + 1;
        for (int start = 0; start < count; start += blockTokens)
        {
            int n = Math.Min(blockTokens, count - start);
            kernel(tile, cache.Block(kvHead, start, n), scale, scratch);
        }

        Attention.Finish(tile);
        return output;
    }

    private static void AssertClose(float[] expected, float[] actual, int offset, int stride, int tokens, int width, float tolerance, string what)
    {
        for (int t = 0; t < tokens; t++)
        {
            for (int j = 0; j < width; j++)
            {
                int i = t * stride + offset + j;
                Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance,
                    $"{what}: token {t}, element {j}: expected {expected[i]}, got {actual[i]}");
            }
        }
    }

    public static TheoryData<int, int, int, int, int, float> Cases()
    {
        var data = new TheoryData<int, int, int, int, int, float>();
        foreach (int headDim in new[] { 64, 128 })
        {
            foreach (int group in new[] { 1, 2, 4, 8 })
            {
                data.Add(headDim, group, 1, 1, 32, 1f);      // one position
                data.Add(headDim, group, 1, 75, 32, 1f);     // decode: 2 full blocks + 11
                data.Add(headDim, group, 5, 75, 32, 1f);     // tile crossing into the last block
                data.Add(headDim, group, 16, 100, 32, 4f);   // tile over a block boundary, sharp scores
            }
        }

        data.Add(64, 4, 7, 90, 8, 1f);     // small blocks: many blocks per tile, a tile over several blocks
        data.Add(64, 4, 9, 200, 80, 1f);   // blocks larger than a chunk
        data.Add(128, 2, 3, 37, 37, 30f);  // one block holding everything, scores spread over ~±30
        data.Add(12, 3, 4, 40, 16, 1f);    // head size not a multiple of 8: scalar path
        data.Add(40, 2, 4, 40, 16, 1f);    // multiple of 8 but not of 32
        return data;
    }

    public static TheoryData<int, int, int, int, int, float, GgmlType, GgmlType> QuantizedCases()
    {
        var data = new TheoryData<int, int, int, int, int, float, GgmlType, GgmlType>();
        foreach (var (k, v) in new[] { (GgmlType.Q8_0, GgmlType.Q8_0), (GgmlType.Q4_0, GgmlType.Q4_0), (GgmlType.Q8_0, GgmlType.F16), (GgmlType.F16, GgmlType.Q4_0) })
        {
            data.Add(64, 4, 1, 75, 32, 1f, k, v);     // decode over 2 full blocks + 11
            data.Add(128, 2, 16, 100, 32, 4f, k, v);  // a tile over a block boundary
            data.Add(64, 8, 9, 200, 80, 1f, k, v);    // blocks larger than a chunk
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tile_kernel_matches_full_softmax_in_double_for_every_query_with_causal_masking(
        int headDim, int group, int tokens, int length, int blockTokens, float keyRange) =>
        Tile_kernel_matches_reference(headDim, group, tokens, length, blockTokens, keyRange, GgmlType.F16, GgmlType.F16);

    /// <summary>Q8_0 and Q4_0 caches: the kernel reads the blocks in place and matches the double softmax over the same dequantized rows.</summary>
    [Theory]
    [MemberData(nameof(QuantizedCases))]
    public void Tile_kernel_matches_reference_over_quantized_keys_and_values(
        int headDim, int group, int tokens, int length, int blockTokens, float keyRange, GgmlType keyType, GgmlType valueType) =>
        Tile_kernel_matches_reference(headDim, group, tokens, length, blockTokens, keyRange, keyType, valueType);

    private static void Tile_kernel_matches_reference(int headDim, int group, int tokens, int length, int blockTokens, float keyRange,
        GgmlType keyType, GgmlType valueType)
    {
        var random = new Random(headDim * 1000 + group * 100 + tokens * 10 + length);
        var cache = Cache.Random(length, headDim, keyRange, random, keyType, valueType);
        int kvHead = 1;
        int offset = headDim;                    // the group starts one head into each token's row
        int stride = (group + 2) * headDim;
        var q = RandomQueries(tokens, stride, random);
        int[] positions = Enumerable.Range(length - tokens, tokens).ToArray();
        float scale = 1f / MathF.Sqrt(headDim);

        var fast = RunTile(Attention.Accumulate, cache, kvHead, q, offset, stride, positions, group, blockTokens, scale);
        var scalar = RunTile(Attention.AccumulateScalar, cache, kvHead, q, offset, stride, positions, group, blockTokens, scale);

        var expected = new float[q.Length];
        var keys = cache.Head(false, kvHead, length);
        var values = cache.Head(true, kvHead, length);
        for (int t = 0; t < tokens; t++)
        {
            for (int g = 0; g < group; g++)
            {
                int at = t * stride + offset + g * headDim;
                Attention.Reference(q.AsSpan(at, headDim), keys, values, positions[t] + 1, scale, expected.AsSpan(at, headDim));
            }
        }

        AssertClose(expected, scalar, offset, stride, tokens, group * headDim, 4e-6f, "scalar vs reference");
        AssertClose(expected, fast, offset, stride, tokens, group * headDim, 4e-6f, "kernel vs reference");
        AssertClose(scalar, fast, offset, stride, tokens, group * headDim, 4e-6f, "kernel vs scalar");
        // Outside the tile's rows nothing is written.
        Assert.True(float.IsNaN(fast[0]) && float.IsNaN(fast[^1]));
    }

    /// <summary>
    /// A sliding window of w: the query at position p sees positions p − w + 1 to p (llama.cpp's standard mask,
    /// which hides a key when p − key ≥ w), with the window starting inside a chunk, on a chunk boundary, inside a
    /// block, and covering everything.
    /// </summary>
    [Theory]
    [InlineData(64, 4, 16, 100, 32, 32)]    // gemma3's window over a tile that crosses a block
    [InlineData(64, 2, 1, 75, 32, 5)]       // decode, window inside the last chunk
    [InlineData(64, 2, 1, 96, 32, 32)]      // decode, window starting exactly on a chunk boundary
    [InlineData(128, 8, 9, 200, 80, 37)]    // blocks larger than a chunk, window starting mid-chunk
    [InlineData(64, 4, 7, 90, 8, 20)]       // small blocks, several skipped whole
    [InlineData(12, 3, 7, 40, 16, 9)]       // scalar path
    [InlineData(64, 1, 5, 10, 32, 64)]      // a window wider than the sequence sees everything
    public void Tile_kernel_with_a_sliding_window_matches_full_softmax_over_the_window(
        int headDim, int group, int tokens, int length, int blockTokens, int window)
    {
        var random = new Random(headDim * 1000 + group * 100 + tokens * 10 + window);
        var cache = Cache.Random(length, headDim, 2f, random);
        int stride = group * headDim;
        var q = RandomQueries(tokens, stride, random);
        int[] positions = Enumerable.Range(length - tokens, tokens).ToArray();
        float scale = 1f / MathF.Sqrt(headDim);

        var fast = RunTile(Attention.Accumulate, cache, 0, q, 0, stride, positions, group, blockTokens, scale, window);
        var scalar = RunTile(Attention.AccumulateScalar, cache, 0, q, 0, stride, positions, group, blockTokens, scale, window);

        var expected = new float[q.Length];
        var keys = cache.Head(false, 0, length);
        var values = cache.Head(true, 0, length);
        for (int t = 0; t < tokens; t++)
        {
            int first = Math.Max(0, positions[t] - window + 1);
            for (int g = 0; g < group; g++)
            {
                int at = t * stride + g * headDim;
                Attention.Reference(q.AsSpan(at, headDim), keys.AsSpan(first * headDim), values.AsSpan(first * headDim),
                    positions[t] - first + 1, scale, expected.AsSpan(at, headDim));
            }
        }

        AssertClose(expected, scalar, 0, stride, tokens, stride, 4e-6f, "scalar vs reference");
        AssertClose(expected, fast, 0, stride, tokens, stride, 4e-6f, "kernel vs reference");
    }

    [Theory]
    [InlineData(64, 4, 32)]
    [InlineData(128, 8, 32)]
    [InlineData(64, 2, 8)]
    [InlineData(12, 3, 16)]
    [InlineData(64, 4, 32, 32)]
    [InlineData(64, 2, 8, 13)]
    [InlineData(12, 3, 16, 9)]
    public void A_query_gets_the_same_bits_in_any_tile(int headDim, int group, int blockTokens, int window = 0)
    {
        var random = new Random(headDim + group);
        const int length = 70;
        var cache = Cache.Random(length, headDim, 2f, random);
        int stride = group * headDim;
        var q = RandomQueries(length, stride, random);
        float scale = 1f / MathF.Sqrt(headDim);
        foreach (var kernel in new AccumulateKernel[] { Attention.Accumulate, Attention.AccumulateScalar })
        {
            // Token by token (decode) vs tiles of 16 and 5: every query's output is the same, bit for bit.
            var single = new float[q.Length];
            for (int t = 0; t < length; t++)
            {
                var one = RunTile(kernel, cache, 0, q.AsSpan(t * stride, stride).ToArray(), 0, stride, [t], group, blockTokens, scale, window);
                one.CopyTo(single.AsSpan(t * stride));
            }

            foreach (int tileTokens in new[] { 16, 5 })
            {
                var tiled = new float[q.Length];
                for (int first = 0; first < length; first += tileTokens)
                {
                    int n = Math.Min(tileTokens, length - first);
                    var part = RunTile(kernel, cache, 0, q.AsSpan(first * stride, n * stride).ToArray(), 0, stride,
                        Enumerable.Range(first, n).ToArray(), group, blockTokens, scale, window);
                    part.CopyTo(tiled.AsSpan(first * stride));
                }

                Assert.Equal(single, tiled);
            }
        }
    }

    /// <summary>
    /// The attention exp is ggml's AVX2 ggml_v_expf (so the softmax rounds as llama.cpp's): within 2 ulp of e^x,
    /// subnormal below −87.3 and 0 below −104, and lane by lane the same bits as the scalar
    /// <see cref="Activation.GgmlExp"/> (the router softmax's exp).
    /// </summary>
    [Fact]
    public void Vector_exp_is_ggml_v_expf_within_2_ulp_for_softmax_arguments()
    {
        if (!Fma.IsSupported)
        {
            // Without FMA the kernels take the scalar path (MathF.Exp); the vector exp must not be reachable.
            Assert.Throws<PlatformNotSupportedException>(() => Attention.Exp(Vector256<float>.Zero));
            return;
        }

        var random = new Random(3);
        var x = new float[8];
        for (int n = 0; n < 20_000; n++)
        {
            for (int i = 0; i < 8; i++)
                x[i] = n < 16 ? -n * 0.05f * i : -(float)(random.NextDouble() * 110);
            var y = Attention.Exp(Vector256.Create(x));
            for (int i = 0; i < 8; i++)
            {
                double expected = Math.Exp(x[i]);
                double tolerance = x[i] < -87.33f ? 4.3e-45 + 2.4e-7 * expected : 2.4e-7 * expected;
                Assert.True(Math.Abs(y[i] - expected) <= tolerance, $"e^{x[i]}: expected {expected}, got {y[i]}");
                Assert.Equal(BitConverter.SingleToUInt32Bits(Activation.GgmlExp(x[i])), BitConverter.SingleToUInt32Bits(y[i]));
                if (x[i] < -104f)
                    Assert.Equal(0f, y[i]);
            }
        }
    }

    [Fact]
    public void A_token_before_a_block_sees_nothing_of_it()
    {
        // Tokens at positions 3 and 40 in one tile, blocks of 32: the first sees only block 0 (positions 0..3).
        var random = new Random(5);
        const int headDim = 64, group = 2;
        var cache = Cache.Random(41, headDim, 1f, random);
        int stride = group * headDim;
        var q = RandomQueries(2, stride, random);
        var output = RunTile(Attention.Accumulate, cache, 0, q, 0, stride, [3, 40], group, 32, 0.125f);
        var expected = new float[headDim];
        for (int g = 0; g < group; g++)
        {
            Attention.Reference(q.AsSpan(g * headDim, headDim), cache.Head(false, 0, 4), cache.Head(true, 0, 4), 4, 0.125f, expected);
            for (int j = 0; j < headDim; j++)
                Assert.Equal(expected[j], output[g * headDim + j], 2e-5f);
        }
    }

    [Fact]
    public void Buffers_too_small_for_the_tile_or_block_are_rejected()
    {
        var q = new float[64];
        var states = new Attention.OnlineSoftmax[1];
        Assert.Throws<ArgumentException>(() => new AttentionTile(q, new float[64], states, [0, 1], 1, 64, 64));
        Assert.Throws<ArgumentException>(() =>
        {
            var tile = new AttentionTile(q, new float[64], states, [0], 1, 64, 64);
            Attention.Accumulate(tile, new KvBlock(new byte[128], GgmlType.F16, 128, new byte[128], GgmlType.F16, 128, 0, 2), 1f, new float[Attention.ScratchLength(64)]);
        });
        Assert.Throws<ArgumentException>(() =>
        {
            var tile = new AttentionTile(q, new float[64], states, [0], 1, 64, 64);
            Attention.Accumulate(tile, new KvBlock(new byte[128], GgmlType.F16, 128, new byte[128], GgmlType.F16, 128, 0, 1), 1f, new float[64]);
        });
        // A quantized block needs head slices of whole blocks of 32.
        Assert.Throws<ArgumentException>(() =>
        {
            var tile = new AttentionTile(new float[48], new float[48], states, [0], 1, 48, 48);
            Attention.Accumulate(tile, new KvBlock(new byte[64], GgmlType.Q8_0, 64, new byte[64], GgmlType.Q8_0, 64, 0, 1), 1f, new float[Attention.ScratchLength(48)]);
        });
    }
}
