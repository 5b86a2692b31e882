using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Gguf;

namespace Tern.Kernels;

/// <summary>
/// Attention over keys and values cached as F16, Q8_0 or Q4_0 (<see cref="KvRows"/>), streamed block by block with an online softmax: each query keeps
/// a running maximum and sum, and its output accumulator is rescaled when the maximum grows, so no buffer grows
/// with the context.
/// </summary>
/// <remarks>
/// The kernel takes a tile of queries that share one KV head (a group of query heads, for several consecutive
/// tokens of one sequence) and widens each key and value row to float once per tile, not once per query head and
/// token: with grouped-query attention and prompt processing, that conversion and the memory traffic were most of
/// the cost. Every query is still computed on its own with a fixed sequence of operations that depends only on
/// the query, the keys and values it sees, and where the block boundaries fall (cached positions, not the tile):
/// a query gets bit-identical results whichever tile it is in, so batching does not change logits.
/// </remarks>
public static class Attention
{
    /// <summary>Positions widened and scored at a time; a block is processed in chunks of this size from its start.</summary>
    public const int ChunkPositions = 32;

    /// <summary>Running maximum and sum of exp(score − maximum) of one query head.</summary>
    public struct OnlineSoftmax
    {
        public float Max;
        public float Sum;

        public static OnlineSoftmax Empty => new() { Max = float.NegativeInfinity, Sum = 0 };
    }

    /// <summary>Floats of scratch <see cref="Accumulate"/> needs for one head size (widened keys and values and one row of scores).</summary>
    public static int ScratchLength(int headDim) => 2 * ChunkPositions * headDim + ChunkPositions;

    /// <summary>Clears the tile's outputs and resets its softmax states, before its first block.</summary>
    public static void Begin(in AttentionTile tile)
    {
        int rowLength = tile.Group * tile.HeadDim;
        for (int t = 0; t < tile.Tokens; t++)
            tile.Output.Slice(t * tile.TokenStride, rowLength).Clear();
        tile.States[..(tile.Tokens * tile.Group)].Fill(OnlineSoftmax.Empty);
    }

    /// <summary>Divides each query's accumulator by its softmax sum: the heads' attention outputs.</summary>
    public static void Finish(in AttentionTile tile)
    {
        for (int t = 0; t < tile.Tokens; t++)
        {
            for (int g = 0; g < tile.Group; g++)
                Normalize(tile.States[t * tile.Group + g], tile.Output.Slice(t * tile.TokenStride + g * tile.HeadDim, tile.HeadDim));
        }
    }

    /// <summary>Divides one query's accumulator by its softmax sum.</summary>
    public static void Normalize(OnlineSoftmax state, Span<float> acc) =>
        System.Numerics.Tensors.TensorPrimitives.Multiply(acc, state.Sum > 0 ? 1f / state.Sum : 0f, acc);

    /// <summary>
    /// Folds one query's partial result over later positions (<paramref name="other"/>, with its unnormalised
    /// accumulator) into its result so far: both are rescaled to the larger maximum and added (split-K's
    /// reduction). A partial that saw nothing leaves the result exactly as it was.
    /// </summary>
    public static void Merge(ref OnlineSoftmax state, Span<float> acc, OnlineSoftmax other, ReadOnlySpan<float> otherAcc)
    {
        if (other.Sum == 0)
            return; // saw no position (a sum of exponentials over seen positions is at least 1)
        float max = MathF.Max(state.Max, other.Max);
        float a = MathF.Exp(state.Max - max), b = MathF.Exp(other.Max - max);
        for (int j = 0; j < acc.Length; j++)
            acc[j] = acc[j] * a + otherAcc[j] * b;
        state.Sum = state.Sum * a + other.Sum * b;
        state.Max = max;
    }

    /// <summary>
    /// Adds one block of cached positions to every query of the tile: scores = scale · q·kᵢ over the positions the
    /// query may see (those ≤ its own position, and within the tile's window when it has one), then acc = acc·e^(m−m') + Σ e^(sᵢ−m')·vᵢ. Blocks must come in
    /// position order. AVX2 when available and the head size is a multiple of 8, else <see cref="AccumulateScalar"/>.
    /// </summary>
    /// <param name="scratch">At least <see cref="ScratchLength"/>(head size) floats.</param>
    public static void Accumulate(in AttentionTile tile, in KvBlock block, float scale, Span<float> scratch)
    {
        Validate(tile, block, scratch);
        if (Avx2.IsSupported && Fma.IsSupported && tile.HeadDim % 8 == 0)
            AccumulateAvx2(tile, block, scale, scratch);
        else
            AccumulateScalarCore(tile, block, scale, scratch);
    }

    /// <summary>Plain scalar twin of <see cref="Accumulate"/>.</summary>
    public static void AccumulateScalar(in AttentionTile tile, in KvBlock block, float scale, Span<float> scratch)
    {
        Validate(tile, block, scratch);
        AccumulateScalarCore(tile, block, scale, scratch);
    }

    private static void Validate(in AttentionTile tile, in KvBlock block, Span<float> scratch)
    {
        if (!KvRows.IsSupported(block.KeyType) || !KvRows.IsSupported(block.ValueType))
            throw new NotSupportedException($"KV cache types {block.KeyType}/{block.ValueType}: attention reads F16, Q8_0 and Q4_0");
        bool quantized = block.KeyType != GgmlType.F16 || block.ValueType != GgmlType.F16;
        if (quantized && tile.HeadDim % 32 != 0)
            throw new ArgumentException($"head size {tile.HeadDim} is not a multiple of 32: a quantized KV cache needs whole blocks per head");
        int keyBytes = KvRows.RowBytes(block.KeyType, tile.HeadDim), valueBytes = KvRows.RowBytes(block.ValueType, tile.HeadDim);
        long keySpan = block.Count == 0 ? 0 : (long)(block.Count - 1) * block.KeyStride + keyBytes;
        long valueSpan = block.Count == 0 ? 0 : (long)(block.Count - 1) * block.ValueStride + valueBytes;
        if (block.Keys.Length < keySpan || block.Values.Length < valueSpan || block.KeyStride < keyBytes || block.ValueStride < valueBytes)
            throw new ArgumentException($"KV block of {block.Count} positions at strides {block.KeyStride}/{block.ValueStride} bytes: keys or values too short for head size {tile.HeadDim}");
        if (scratch.Length < ScratchLength(tile.HeadDim))
            throw new ArgumentException($"attention scratch holds {scratch.Length} floats, head size {tile.HeadDim} needs {ScratchLength(tile.HeadDim)}", nameof(scratch));
    }

    /// <summary>How many of the chunk's <paramref name="count"/> positions from <paramref name="start"/> a query at <paramref name="position"/> sees.</summary>
    private static int Visible(int position, int start, int count) => Math.Clamp(position - start + 1, 0, count);

    /// <summary>How many of the chunk's positions from <paramref name="start"/> lie before the window of a query at
    /// <paramref name="position"/> (positions up to position − window are masked; window 0 masks none).</summary>
    private static int Hidden(int position, int start, int window) => window == 0 ? 0 : Math.Max(0, position - window + 1 - start);

    /// <summary>Whether no query of the tile sees any of the chunk's first <paramref name="count"/> positions from <paramref name="start"/>.</summary>
    private static bool AllHidden(in AttentionTile tile, int start, int count)
    {
        foreach (int p in tile.Positions)
        {
            if (Hidden(p, start, tile.Window) < Visible(p, start, count))
                return false;
        }

        return true;
    }

    private static int MaxVisible(ReadOnlySpan<int> positions, int start, int count)
    {
        int max = 0;
        foreach (int p in positions)
            max = Math.Max(max, Visible(p, start, count));
        return max;
    }

    // ---- scalar ----

    private static void AccumulateScalarCore(in AttentionTile tile, in KvBlock block, float scale, Span<float> scratch)
    {
        int d = tile.HeadDim;
        var keys = scratch[..(ChunkPositions * d)];
        var values = scratch.Slice(ChunkPositions * d, ChunkPositions * d);
        var scores = scratch.Slice(2 * ChunkPositions * d, ChunkPositions);
        for (int c = 0; c < block.Count; c += ChunkPositions)
        {
            int start = block.Start + c;
            int n = MaxVisible(tile.Positions, start, Math.Min(ChunkPositions, block.Count - c));
            if (n == 0)
                break; // later chunks are further ahead still
            if (tile.Window != 0 && AllHidden(tile, start, n))
                continue; // behind every query's window
            KvRows.WidenScalar(block.KeyType, block.Keys[(c * block.KeyStride)..], block.KeyStride, n, d, keys);
            KvRows.WidenScalar(block.ValueType, block.Values[(c * block.ValueStride)..], block.ValueStride, n, d, values);

            for (int t = 0; t < tile.Tokens; t++)
            {
                int visible = Visible(tile.Positions[t], start, n);
                int hidden = Hidden(tile.Positions[t], start, tile.Window);
                if (visible <= hidden)
                    continue;
                for (int g = 0; g < tile.Group; g++)
                {
                    int offset = t * tile.TokenStride + g * d;
                    RowScalar(tile.Queries.Slice(offset, d), tile.Output.Slice(offset, d), ref tile.States[t * tile.Group + g],
                        keys[(hidden * d)..], values[(hidden * d)..], scores, visible - hidden, scale);
                }
            }
        }
    }

    private static void RowScalar(ReadOnlySpan<float> q, Span<float> acc, ref OnlineSoftmax state, ReadOnlySpan<float> keys,
        ReadOnlySpan<float> values, Span<float> scores, int count, float scale)
    {
        int d = q.Length;
        float blockMax = float.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            var k = keys.Slice(i * d, d);
            float s = 0;
            for (int j = 0; j < d; j++)
                s += q[j] * k[j];
            scores[i] = scale * s;
            blockMax = MathF.Max(blockMax, scores[i]);
        }

        float newMax = MathF.Max(state.Max, blockMax);
        float rescale = MathF.Exp(state.Max - newMax); // 0 for the first block, 1 when the maximum stays
        state.Sum *= rescale;
        state.Max = newMax;
        for (int j = 0; j < d; j++)
            acc[j] *= rescale;
        for (int i = 0; i < count; i++)
        {
            float p = MathF.Exp(scores[i] - newMax);
            state.Sum += p;
            var v = values.Slice(i * d, d);
            for (int j = 0; j < d; j++)
                acc[j] += p * v[j];
        }
    }

    // ---- AVX2 ----

    private static unsafe void AccumulateAvx2(in AttentionTile tile, in KvBlock block, float scale, Span<float> scratch)
    {
        int d = tile.HeadDim;
        fixed (float* queries = tile.Queries)
        fixed (float* output = tile.Output)
        fixed (OnlineSoftmax* states = tile.States)
        fixed (byte* keySource = block.Keys)
        fixed (byte* valueSource = block.Values)
        fixed (float* work = scratch)
        {
            float* keys = work;
            float* values = work + ChunkPositions * d;
            float* scores = work + 2 * ChunkPositions * d;
            for (int c = 0; c < block.Count; c += ChunkPositions)
            {
                int start = block.Start + c;
                int n = MaxVisible(tile.Positions, start, Math.Min(ChunkPositions, block.Count - c));
                if (n == 0)
                    break;
                if (tile.Window != 0 && AllHidden(tile, start, n))
                    continue;
                // Keys are scored 8 at a time: zero the rows up to the next multiple of 8 (their scores are masked).
                int padded = (n + 7) & ~7;
                KvRows.WidenAvx2(block.KeyType, keySource + (long)c * block.KeyStride, block.KeyStride, n, d, keys);
                new Span<float>(keys + n * d, (padded - n) * d).Clear();
                KvRows.WidenAvx2(block.ValueType, valueSource + (long)c * block.ValueStride, block.ValueStride, n, d, values);

                for (int t = 0; t < tile.Tokens; t++)
                {
                    int visible = Visible(tile.Positions[t], start, n);
                    int hidden = Hidden(tile.Positions[t], start, tile.Window);
                    if (visible <= hidden)
                        continue;
                    // Past the window's start, scores are read 8 rows at a time up to 7 rows past the visible ones:
                    // still inside the scratch (keys then values), and masked.
                    for (int g = 0; g < tile.Group; g++)
                    {
                        long offset = (long)t * tile.TokenStride + g * d;
                        RowAvx2(queries + offset, output + offset, ref states[t * tile.Group + g], keys + hidden * d, values + hidden * d,
                            scores, d, visible - hidden, scale);
                    }
                }
            }
        }
    }

    private static unsafe void RowAvx2(float* q, float* acc, ref OnlineSoftmax state, float* keys, float* values, float* scores,
        int d, int count, float scale)
    {
        int groups = (count + 7) >> 3;
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var negativeInfinity = Vector256.Create(float.NegativeInfinity);
        var max = negativeInfinity;
        for (int g = 0; g < groups; g++)
        {
            var s = Dot8(q, keys + g * 8 * d, d) * scale;
            s.Store(scores + g * 8);
            var seen = Vector256.LessThan(lanes, Vector256.Create(count - g * 8)).AsSingle();
            max = Vector256.Max(max, Vector256.ConditionalSelect(seen, s, negativeInfinity));
        }

        float newMax = MathF.Max(state.Max, HorizontalMax(max));
        float rescale = MathF.Exp(state.Max - newMax); // 0 for the first block, 1 when the maximum stays
        var m = Vector256.Create(newMax);
        var sum = Vector256<float>.Zero;
        for (int g = 0; g < groups; g++)
        {
            var seen = Vector256.LessThan(lanes, Vector256.Create(count - g * 8)).AsSingle();
            var p = Vector256.ConditionalSelect(seen, Exp(Vector256.Load(scores + g * 8) - m), Vector256<float>.Zero);
            p.Store(scores + g * 8);
            sum += p;
        }

        state.Sum = state.Sum * rescale + Vector256.Sum(sum);
        state.Max = newMax;

        // acc = acc·rescale + Σ pᵢ·vᵢ, 64 dimensions at a time held in registers across the positions (8
        // independent FMA chains keep both FMA units busy despite their latency).
        var r = Vector256.Create(rescale);
        int j = 0;
        for (; j + 64 <= d; j += 64)
        {
            var a0 = Vector256.Load(acc + j) * r;
            var a1 = Vector256.Load(acc + j + 8) * r;
            var a2 = Vector256.Load(acc + j + 16) * r;
            var a3 = Vector256.Load(acc + j + 24) * r;
            var a4 = Vector256.Load(acc + j + 32) * r;
            var a5 = Vector256.Load(acc + j + 40) * r;
            var a6 = Vector256.Load(acc + j + 48) * r;
            var a7 = Vector256.Load(acc + j + 56) * r;
            float* v = values + j;
            for (int i = 0; i < count; i++, v += d)
            {
                var p = Vector256.Create(scores[i]);
                a0 = Fma.MultiplyAdd(p, Vector256.Load(v), a0);
                a1 = Fma.MultiplyAdd(p, Vector256.Load(v + 8), a1);
                a2 = Fma.MultiplyAdd(p, Vector256.Load(v + 16), a2);
                a3 = Fma.MultiplyAdd(p, Vector256.Load(v + 24), a3);
                a4 = Fma.MultiplyAdd(p, Vector256.Load(v + 32), a4);
                a5 = Fma.MultiplyAdd(p, Vector256.Load(v + 40), a5);
                a6 = Fma.MultiplyAdd(p, Vector256.Load(v + 48), a6);
                a7 = Fma.MultiplyAdd(p, Vector256.Load(v + 56), a7);
            }

            a0.Store(acc + j);
            a1.Store(acc + j + 8);
            a2.Store(acc + j + 16);
            a3.Store(acc + j + 24);
            a4.Store(acc + j + 32);
            a5.Store(acc + j + 40);
            a6.Store(acc + j + 48);
            a7.Store(acc + j + 56);
        }

        for (; j + 32 <= d; j += 32)
        {
            var a0 = Vector256.Load(acc + j) * r;
            var a1 = Vector256.Load(acc + j + 8) * r;
            var a2 = Vector256.Load(acc + j + 16) * r;
            var a3 = Vector256.Load(acc + j + 24) * r;
            float* v = values + j;
            for (int i = 0; i < count; i++, v += d)
            {
                var p = Vector256.Create(scores[i]);
                a0 = Fma.MultiplyAdd(p, Vector256.Load(v), a0);
                a1 = Fma.MultiplyAdd(p, Vector256.Load(v + 8), a1);
                a2 = Fma.MultiplyAdd(p, Vector256.Load(v + 16), a2);
                a3 = Fma.MultiplyAdd(p, Vector256.Load(v + 24), a3);
            }

            a0.Store(acc + j);
            a1.Store(acc + j + 8);
            a2.Store(acc + j + 16);
            a3.Store(acc + j + 24);
        }

        for (; j < d; j += 8)
        {
            var a = Vector256.Load(acc + j) * r;
            float* v = values + j;
            for (int i = 0; i < count; i++, v += d)
                a = Fma.MultiplyAdd(Vector256.Create(scores[i]), Vector256.Load(v), a);
            a.Store(acc + j);
        }
    }

    /// <summary>q · k for 8 consecutive float rows k of <paramref name="d"/> (a multiple of 8): lane i is row i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Dot8(float* q, float* k, int d)
    {
        var s0 = Vector256<float>.Zero;
        var s1 = Vector256<float>.Zero;
        var s2 = Vector256<float>.Zero;
        var s3 = Vector256<float>.Zero;
        var s4 = Vector256<float>.Zero;
        var s5 = Vector256<float>.Zero;
        var s6 = Vector256<float>.Zero;
        var s7 = Vector256<float>.Zero;
        for (int j = 0; j < d; j += 8)
        {
            var x = Vector256.Load(q + j);
            float* kj = k + j;
            s0 = Fma.MultiplyAdd(x, Vector256.Load(kj), s0);
            s1 = Fma.MultiplyAdd(x, Vector256.Load(kj + d), s1);
            s2 = Fma.MultiplyAdd(x, Vector256.Load(kj + 2 * d), s2);
            s3 = Fma.MultiplyAdd(x, Vector256.Load(kj + 3 * d), s3);
            s4 = Fma.MultiplyAdd(x, Vector256.Load(kj + 4 * d), s4);
            s5 = Fma.MultiplyAdd(x, Vector256.Load(kj + 5 * d), s5);
            s6 = Fma.MultiplyAdd(x, Vector256.Load(kj + 6 * d), s6);
            s7 = Fma.MultiplyAdd(x, Vector256.Load(kj + 7 * d), s7);
        }

        // Transposing reduction: hadd pairs within 128-bit lanes, then add the two halves.
        var s01 = Avx.HorizontalAdd(s0, s1);
        var s23 = Avx.HorizontalAdd(s2, s3);
        var s45 = Avx.HorizontalAdd(s4, s5);
        var s67 = Avx.HorizontalAdd(s6, s7);
        var s0123 = Avx.HorizontalAdd(s01, s23); // [0 1 2 3 | 0 1 2 3] low and high halves of each row
        var s4567 = Avx.HorizontalAdd(s45, s67);
        return Avx.Permute2x128(s0123, s4567, 0x20) + Avx.Permute2x128(s0123, s4567, 0x31);
    }

    private static float HorizontalMax(Vector256<float> x)
    {
        var m = Vector128.Max(x.GetLower(), x.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    /// <summary>
    /// e^x for the softmax's arguments as ggml's AVX2 <c>ggml_v_expf</c> (ARM's optimized-routines polynomial, within
    /// 1.5 ulp; the same operations lane by lane as <see cref="Activation.GgmlExp"/>), so the softmax rounds as
    /// llama.cpp's. Requires <see cref="Fma.IsSupported"/>. Public for tests.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var shift = Vector256.Create(0x4b400000u).AsSingle();
        var z = Fma.MultiplyAdd(x, Vector256.Create(0x3fb8aa3bu).AsSingle(), shift);
        var n = z - shift;
        var b = Fma.MultiplyAddNegated(n, Vector256.Create(0x35bfbe8eu).AsSingle(),
            Fma.MultiplyAddNegated(n, Vector256.Create(0x3f317200u).AsSingle(), x));
        var e = Vector256.ShiftLeft(z.AsUInt32(), 23);
        var k = (e + Vector256.Create(0x3f800000u)).AsSingle();
        var u = b * b;
        var j = Fma.MultiplyAdd(
            Fma.MultiplyAdd(Fma.MultiplyAdd(Vector256.Create(0x3c072010u).AsSingle(), b, Vector256.Create(0x3d2b9f17u).AsSingle()), u,
                Fma.MultiplyAdd(Vector256.Create(0x3e2aaf33u).AsSingle(), b, Vector256.Create(0x3efffedbu).AsSingle())),
            u, Vector256.Create(0x3f7ffff6u).AsSingle() * b);
        var c = Vector256.GreaterThan(Vector256.Abs(n), Vector256.Create(126f));
        var result = Fma.MultiplyAdd(k, j, k);
        if (c == Vector256<float>.Zero)
            return result;
        var g = Vector256.LessThanOrEqual(n, Vector256<float>.Zero).AsUInt32() & Vector256.Create(0x82000000u);
        var s1 = (g + Vector256.Create(0x7f000000u)).AsSingle();
        var s2 = (e - g).AsSingle();
        var d = Vector256.GreaterThan(Vector256.Abs(n), Vector256.Create(192f));
        var large = Vector256.ConditionalSelect(d, s1 * s1, Fma.MultiplyAdd(s2, j, s2) * s1);
        return Vector256.ConditionalSelect(c, large, result);
    }

    /// <summary>
    /// Plain reference for tests: softmax(scale · K q) · V over all <paramref name="count"/> positions at once, in
    /// double, with keys and values given as floats [count, headDim].
    /// </summary>
    public static void Reference(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int count, float scale, Span<float> output)
    {
        int d = q.Length;
        var scores = new double[count];
        double max = double.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            double s = 0;
            for (int j = 0; j < d; j++)
                s += (double)q[j] * keys[i * d + j];
            scores[i] = s * scale;
            max = Math.Max(max, scores[i]);
        }

        double sum = 0;
        for (int i = 0; i < count; i++)
        {
            scores[i] = Math.Exp(scores[i] - max);
            sum += scores[i];
        }

        for (int j = 0; j < d; j++)
        {
            double o = 0;
            for (int i = 0; i < count; i++)
                o += scores[i] * values[i * d + j];
            output[j] = (float)(o / sum);
        }
    }
}
