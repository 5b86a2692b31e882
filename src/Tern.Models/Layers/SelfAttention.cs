using Tern.Kernels;

namespace Tern.Models;

public abstract unsafe partial class DecoderModel
{
    /// <summary>
    /// Multi-head self-attention with grouped KV heads, up to (not including) the output projection, shaped by the
    /// layer's <see cref="AttentionSpec"/>: q, k, v = h·W (+ b); RMS norm of each q and k head when the weights have
    /// one; RoPE on q and k with the layer's setting; k and v written into the layer's KV group; each query head
    /// attends over its sequence's cached positions up to its own, or over the last <see cref="AttentionSpec.Window"/>
    /// of them in a sliding-window layer. Without a V projection the values are the keys before their norm;
    /// <paramref name="normValues"/>: each value head RMS-normed without a weight (gemma4).
    /// h: [N, n_embd] → output: [N, n_head·head_dim].
    /// </summary>
    protected void SelfAttention(int layer, ReadOnlySpan<float> h, AttentionWeights w, Span<float> output, bool normValues = false)
    {
        var a = Config.Layers[layer].Attention!;
        var q = _buffers.Q.AsSpan(0, N * a.QDim);   // [N, n_head·head_dim]
        var k = _buffers.K.AsSpan(0, N * a.KvDim);  // [N, n_kv_head·head_dim]
        var v = _buffers.V.AsSpan(0, N * a.KvDim);  // [N, n_kv_head·head_dim]
        Linear(w.Q, h, q, w.QBias);
        Linear(w.K, h, k, w.KBias);
        if (w.V is null)
            k.CopyTo(v);
        else
            Linear(w.V, h, v, w.VBias);
        if (w.QNorm is not null)
            RmsNorm(q, w.QNorm, q);                  // each head on its own: the norm's rows are head_dim wide
        if (w.KNorm is not null)
            RmsNorm(k, w.KNorm, k);
        if (normValues)
            Norm.RmsNorm(v, a.HeadDim, Config.RmsEpsilon, v);
        ApplyRope(a, q, k);
        Attend(layer, a, q, k, v, output);
    }

    /// <summary>RoPE on every query and key head of the batch with the layer's setting. q: [N, n_head·head_dim], k: [N, n_kv_head·head_dim].</summary>
    protected void ApplyRope(AttentionSpec a, Span<float> q, Span<float> k)
    {
        var (cosTable, sinTable) = RopeTables(a.Rope);
        int half = a.Rope.Dims / 2;
        for (int t = 0; t < N; t++)
        {
            var cos = cosTable.AsSpan(t * half, half);
            var sin = sinTable.AsSpan(t * half, half);
            for (int head = 0; head < a.Heads; head++)
                Rope.Apply(RopeStyle, q.Slice(t * a.QDim + head * a.HeadDim, a.HeadDim), cos, sin);
            for (int head = 0; head < a.KvHeads; head++)
                Rope.Apply(RopeStyle, k.Slice(t * a.KvDim + head * a.HeadDim, a.HeadDim), cos, sin);
        }
    }

    /// <summary>
    /// Writes the batch's keys and values into the layer's KV group, then each query attends over its sequence's
    /// cached positions (split over the pool by chunk and KV head). q: [N, n_head·head_dim], k, v:
    /// [N, n_kv_head·head_dim] → output: [N, n_head·head_dim].
    /// </summary>
    protected void Attend(int layer, AttentionSpec a, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> output)
    {
        var (group, local) = _state.KvLayer(layer);
        var cache = _state.Groups[group].Cache;
        var rows = cache.Layer(local);
        var sequences = (ReadOnlySpan<KvSequence>)_buffers.GroupSequences[group].AsSpan(0, N);

        // Keys and values go into the cache in its types; queries stay F32, as in llama.cpp 2026's tiled
        // flash-attention path for prompts (the reference of ../shared/golden/2026).
        var positions = _batch.Positions;
        for (int t = 0; t < N; t++)
        {
            for (int head = 0; head < a.KvHeads; head++)
            {
                int at = t * a.KvDim + head * a.HeadDim;
                KvRows.Store(cache.KeyType, k.Slice(at, a.HeadDim), cache.HeadRow(sequences[t], local, false, positions[t], head));
                KvRows.Store(cache.ValueType, v.Slice(at, a.HeadDim), cache.HeadRow(sequences[t], local, true, positions[t], head));
            }
        }

        int chunks = (N + AttentionJob.ChunkTokens - 1) / AttentionJob.ChunkTokens;
        long cachedBytes = 0; // keys and values read in all
        int segments = 1;
        for (int first = 0; first < N;)
        {
            int run = AttentionJob.RunLength(sequences, positions, first);
            int last = positions[first + run - 1];
            long seen = a.Window > 0 ? Math.Min(last + 1L, a.Window + run) : last + 1L;
            cachedBytes += seen * (rows.KeyRowBytes + rows.ValueRowBytes);
            segments = Math.Max(segments, AttentionJob.SegmentCount(last, cache.BlockTokens));
            first += run;
        }

        bool split = AttentionJob.ShouldSplit(N, segments, a.QDim);
        if (split)
            _buffers.EnsurePartials(N * segments * a.QDim, N * segments * a.Heads);
        fixed (float* qp = q)
        fixed (float* op = output)
        fixed (float* partials = _buffers.Partials)
        fixed (Attention.OnlineSoftmax* partialStates = _buffers.PartialStates)
        {
            var job = new AttentionJob
            {
                Cache = cache,
                Sequences = sequences,
                Positions = positions,
                Layer = local,
                Q = qp,
                Output = op,
                Chunks = chunks,
                KvHeads = a.KvHeads,
                GroupSize = a.Heads / a.KvHeads,
                HeadDim = a.HeadDim,
                QDim = a.QDim,
                Scale = AttentionScale(a),
                Window = a.Window,
                Segments = split ? segments : 1,
                Partials = split ? partials : null,
                PartialStates = split ? partialStates : null,
            };
            // Each cached byte feeds the arithmetic of a whole group of query heads: weigh the bytes by the group
            // size when deciding whether waking the pool pays.
            Pool.Run(ref job, job.Units, cachedBytes * job.GroupSize);
            if (split)
                job.Reduce();
        }
    }
}
