using System.Numerics.Tensors;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>Options for loading a model.</summary>
public sealed record ModelOptions
{
    /// <summary>Threads of the worker pool; 0 means one per processor.</summary>
    public int Threads { get; init; }
}

/// <summary>
/// A decoder-only transformer of the llama family. <see cref="Forward"/> runs one batch of tokens from any number
/// of sequences: embeddings, the architecture's layers (<see cref="ForwardLayer"/>), final norm and output
/// projection for the tokens that want logits. Prompt tokens go through every projection together as matrix ×
/// matrix products. The building blocks the layers share (norms, projections, self-attention over the KV cache,
/// feed-forward and Mixture-of-Experts) live here; each architecture file composes them. Not thread-safe: one
/// forward pass at a time.
/// </summary>
public abstract unsafe class DecoderModel : IDisposable
{
    private readonly ModelOptions _options;
    private WorkerPool? _pool;
    private MatMul? _matmul;
    private readonly ForwardBuffers _buffers = new();

    // Positions each sequence of the batch writes; reused so that a decode step allocates nothing here.
    private readonly Dictionary<KvSequence, (int Start, int End)> _reserveRanges = [];
    private readonly bool _ownsFile;

    // The batch being run (valid during Forward).
    private TokenBatch _batch = null!;
    private KvCache _cache = null!;

    protected DecoderModel(GgufFile file, Hyperparameters hyperparameters, ModelOptions options, bool ownsFile = true)
    {
        File = file;
        Hyperparameters = hyperparameters;
        _ownsFile = ownsFile;
        _options = options;
        var h = hyperparameters;
        Weights = new WeightLoader(file);
        TokenEmbedding = Weights.Table("token_embd.weight", h.EmbeddingLength, h.VocabSize);
        OutputNorm = Weights.Vector("output_norm.weight", h.EmbeddingLength);
        Output = Weights.TryMatrix("output.weight", h.EmbeddingLength, h.VocabSize)
            ?? Weights.Matrix("token_embd.weight", h.EmbeddingLength, h.VocabSize); // tied when absent
    }

    public GgufFile File { get; }
    public Hyperparameters Hyperparameters { get; }
    /// <summary>The model's worker threads, started on first use (so a model that fails to load starts none).</summary>
    public WorkerPool Pool => _pool ??= new WorkerPool(_options.Threads);

    private MatMul Matmul => _matmul ??= new MatMul(Pool);

    /// <summary>How RoPE pairs dimensions in this architecture.</summary>
    protected abstract RopeStyle RopeStyle { get; }

    /// <summary>What the token embeddings are multiplied by as they enter the first layer (gemma: √n_embd).</summary>
    protected virtual float EmbeddingScale => 1f;

    /// <summary>What each query·key product is multiplied by before the softmax.</summary>
    protected virtual float AttentionScale => 1f / MathF.Sqrt(Hyperparameters.HeadDim);

    internal WeightLoader Weights { get; }
    protected Weight TokenEmbedding { get; }
    protected float[] OutputNorm { get; }
    protected Weight Output { get; }

    /// <summary>Number of tokens in the batch being run.</summary>
    protected int N { get; private set; }

    /// <summary>The residual stream of the batch: [N, n_embd].</summary>
    protected Span<float> X => _buffers.X.AsSpan(0, N * Hyperparameters.EmbeddingLength);

    /// <summary>Loads a model, choosing the architecture from <c>general.architecture</c>.</summary>
    public static DecoderModel Load(string path, ModelOptions? options = null) => ModelLoader.Load(path, options ?? new ModelOptions());

    /// <summary>A KV cache sized for this model, holding keys and values as F16, Q8_0 or Q4_0.</summary>
    public KvCache CreateKvCache(int capacityTokens, int blockTokens = 32, GgmlType keyType = GgmlType.F16, GgmlType valueType = GgmlType.F16)
    {
        // Split by KV head: the cache checks that a quantized type's blocks tile each head (attention reads one head's slice).
        var h = Hyperparameters;
        return new(h.BlockCount, h.KvDim, capacityTokens, blockTokens, keyType, valueType, h.HeadCountKv);
    }

    /// <summary>
    /// Runs the batch, writing its keys and values into <paramref name="cache"/>, and writes the logits of the
    /// tokens that want them into <paramref name="logits"/>: [batch.OutputCount, n_vocab], in batch order.
    /// </summary>
    public void Forward(TokenBatch batch, KvCache cache, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(cache);
        var h = Hyperparameters;
        if (cache.Layers != h.BlockCount || cache.KvDim != h.KvDim)
            throw new ArgumentException($"KV cache has {cache.Layers} layers of width {cache.KvDim}, the model needs {h.BlockCount} of {h.KvDim}", nameof(cache));
        if (logits.Length < (long)batch.OutputCount * h.VocabSize)
            throw new ArgumentException($"logits hold {logits.Length} floats, {batch.OutputCount} outputs need {(long)batch.OutputCount * h.VocabSize}", nameof(logits));
        if (batch.Count == 0)
            return;
        Reserve(batch, cache);

        _batch = batch;
        _cache = cache;
        N = batch.Count;
        _buffers.Ensure(h, N, batch.OutputCount);

        // x = token_embd[tokens]                                   [N, n_embd]
        var tokens = batch.Tokens;
        for (int t = 0; t < N; t++)
            TokenEmbedding.DequantizeRow(tokens[t], X.Slice(t * h.EmbeddingLength, h.EmbeddingLength));
        if (EmbeddingScale != 1f)
            TensorPrimitives.Multiply(X, EmbeddingScale, X);
        ComputeRopeAngles(batch.Positions);

        for (int layer = 0; layer < h.BlockCount; layer++)
            ForwardLayer(layer);

        // logits = output · norm(x[outputs])                       [n_out, n_vocab]
        int nOut = batch.OutputCount;
        var outputs = _buffers.OutputRows.AsSpan(0, nOut * h.EmbeddingLength);
        int o = 0;
        for (int t = 0; t < N; t++)
        {
            if (batch.Outputs[t])
                X.Slice(t * h.EmbeddingLength, h.EmbeddingLength).CopyTo(outputs.Slice(o++ * h.EmbeddingLength));
        }

        Norm.RmsNorm(outputs, OutputNorm, h.RmsEpsilon, outputs);
        Linear(Output, outputs, logits[..(nOut * h.VocabSize)]);
        _batch = null!;
        _cache = null!;
    }

    /// <summary>One transformer block over the batch, reading and updating <see cref="X"/>.</summary>
    protected abstract void ForwardLayer(int layer);

    /// <summary>Checks token ids and positions, then makes room in the cache for every sequence in the batch.</summary>
    private void Reserve(TokenBatch batch, KvCache cache)
    {
        var h = Hyperparameters;
        var tokens = batch.Tokens;
        var positions = batch.Positions;
        var sequences = batch.Sequences;
        var range = _reserveRanges;
        range.Clear();
        for (int t = 0; t < batch.Count; t++)
        {
            if ((uint)tokens[t] >= (uint)h.VocabSize)
                throw new ArgumentException($"token {tokens[t]} at batch index {t} is outside the vocabulary (0..{h.VocabSize - 1})", nameof(batch));
            var (start, end) = range.TryGetValue(sequences[t], out var r) ? r : (int.MaxValue, sequences[t].Length);
            if (positions[t] > end)
                throw new ArgumentException($"position {positions[t]} at batch index {t} leaves a gap: sequence {sequences[t].Id} holds {end} positions", nameof(batch));
            range[sequences[t]] = (Math.Min(start, positions[t]), Math.Max(end, positions[t] + 1));
        }

        foreach (var (sequence, r) in range)
            cache.PrepareWrite(sequence, r.Start, r.End);
        foreach (var (sequence, r) in range)
            sequence.Length = r.End;
        range.Clear(); // hold no sequence past the call
    }

    /// <summary>RoPE's cos and sin for every token of the batch, with the sliding-window layers' own base too when the model has them.</summary>
    private void ComputeRopeAngles(ReadOnlySpan<int> positions)
    {
        var h = Hyperparameters;
        int half = h.RopeDimensionCount / 2;
        for (int t = 0; t < positions.Length; t++)
        {
            Rope.Angles(positions[t], h.RopeDimensionCount, h.RopeFreqBase, _buffers.Cos.AsSpan(t * half, half), _buffers.Sin.AsSpan(t * half, half));
            if (h.SlidingWindow > 0)
                Rope.Angles(positions[t], h.RopeDimensionCount, h.RopeFreqBaseSwa, _buffers.CosSwa.AsSpan(t * half, half), _buffers.SinSwa.AsSpan(t * half, half));
        }
    }

    // ---- building blocks for the architectures ----

    /// <summary>Scratch [N, n_embd] for a layer's normalized input.</summary>
    protected Span<float> H => _buffers.H.AsSpan(0, N * Hyperparameters.EmbeddingLength);

    /// <summary>Scratch [N, n_embd] for a block's output before it joins the residual stream.</summary>
    protected Span<float> BlockOut => _buffers.BlockOut.AsSpan(0, N * Hyperparameters.EmbeddingLength);

    /// <summary>Scratch [N, n_head·head_dim] for the attention heads' output.</summary>
    protected Span<float> Heads => _buffers.Attn.AsSpan(0, N * Hyperparameters.QDim);

    /// <summary>Scratch [N, n_ff] for a feed-forward block's hidden activations.</summary>
    protected Span<float> Hidden => _buffers.Gate.AsSpan(0, N * Hyperparameters.FeedForwardLength);

    protected void RmsNorm(ReadOnlySpan<float> x, float[] weight, Span<float> y) => Norm.RmsNorm(x, weight, Hyperparameters.RmsEpsilon, y);

    /// <summary>y [n, rows] = x [n, cols] · Wᵀ (+ bias).</summary>
    protected void Linear(Weight w, ReadOnlySpan<float> x, Span<float> y, float[]? bias = null)
    {
        if (w.Interleaved != null)
            Matmul.MultiplyInterleavedQ4_0(w.Interleaved, w.Rows, w.Cols, x, y);
        else
            Matmul.Multiply(w.Type, w.Address, w.Rows, w.Cols, x, y);
        if (bias is not null)
        {
            for (int row = 0; row < y.Length; row += bias.Length)
                TensorPrimitives.Add(y.Slice(row, bias.Length), bias, y.Slice(row, bias.Length));
        }
    }

    protected static void AddTo(Span<float> x, ReadOnlySpan<float> y) => TensorPrimitives.Add(x, y, x);

    /// <summary>
    /// Multi-head self-attention with grouped KV heads, up to (not including) the output projection:
    /// q, k, v = h·W (+ b); RMS norm of each q and k head when the weights have one; RoPE on q and k; k and v
    /// appended to the cache; each query head attends over its sequence's cached positions up to its own, or, in a
    /// <paramref name="sliding"/> layer, over the last <see cref="Hyperparameters.SlidingWindow"/> of them, with the
    /// sliding layers' RoPE base. h: [N, n_embd] → output: [N, n_head·head_dim].
    /// </summary>
    protected void SelfAttention(int layer, ReadOnlySpan<float> h, AttentionWeights w, Span<float> output, bool sliding = false)
    {
        var hp = Hyperparameters;
        var q = _buffers.Q.AsSpan(0, N * hp.QDim);   // [N, n_head·head_dim]
        var k = _buffers.K.AsSpan(0, N * hp.KvDim);  // [N, n_kv_head·head_dim]
        var v = _buffers.V.AsSpan(0, N * hp.KvDim);  // [N, n_kv_head·head_dim]
        Linear(w.Q, h, q, w.QBias);
        Linear(w.K, h, k, w.KBias);
        Linear(w.V, h, v, w.VBias);
        if (w.QNorm is not null)
            RmsNorm(q, w.QNorm, q);                  // each head on its own: the norm's rows are head_dim wide
        if (w.KNorm is not null)
            RmsNorm(k, w.KNorm, k);

        int half = hp.RopeDimensionCount / 2;
        for (int t = 0; t < N; t++)
        {
            var cos = (sliding ? _buffers.CosSwa : _buffers.Cos).AsSpan(t * half, half);
            var sin = (sliding ? _buffers.SinSwa : _buffers.Sin).AsSpan(t * half, half);
            for (int head = 0; head < hp.HeadCount; head++)
                Rope.Apply(RopeStyle, q.Slice(t * hp.QDim + head * hp.HeadDim, hp.HeadDim), cos, sin);
            for (int head = 0; head < hp.HeadCountKv; head++)
                Rope.Apply(RopeStyle, k.Slice(t * hp.KvDim + head * hp.HeadDim, hp.HeadDim), cos, sin);
        }

        // Keys and values go into the cache in its types; queries stay F32, as in llama.cpp 2026's tiled
        // flash-attention path for prompts (the reference of ../shared/golden/2026).
        var positions = _batch.Positions;
        var sequences = _batch.Sequences;
        for (int t = 0; t < N; t++)
        {
            for (int head = 0; head < hp.HeadCountKv; head++)
            {
                int at = t * hp.KvDim + head * hp.HeadDim;
                KvRows.Store(_cache.KeyType, k.Slice(at, hp.HeadDim), _cache.HeadRow(sequences[t], layer, false, positions[t], head));
                KvRows.Store(_cache.ValueType, v.Slice(at, hp.HeadDim), _cache.HeadRow(sequences[t], layer, true, positions[t], head));
            }
        }

        int chunks = (N + AttentionJob.ChunkTokens - 1) / AttentionJob.ChunkTokens;
        long cachedBytes = 0; // keys and values read in all
        int segments = 1;
        for (int first = 0; first < N;)
        {
            int run = AttentionJob.RunLength(sequences, positions, first);
            int last = positions[first + run - 1];
            cachedBytes += (last + 1L) * (_cache.KeyRowBytes + _cache.ValueRowBytes);
            segments = Math.Max(segments, AttentionJob.SegmentCount(last, _cache.BlockTokens));
            first += run;
        }

        bool split = AttentionJob.ShouldSplit(N, segments, hp.QDim);
        if (split)
            _buffers.EnsurePartials(N * segments * hp.QDim, N * segments * hp.HeadCount);
        fixed (float* qp = q)
        fixed (float* op = output)
        fixed (float* partials = _buffers.Partials)
        fixed (Attention.OnlineSoftmax* partialStates = _buffers.PartialStates)
        {
            var job = new AttentionJob
            {
                Cache = _cache,
                Sequences = sequences,
                Positions = positions,
                Layer = layer,
                Q = qp,
                Output = op,
                Chunks = chunks,
                KvHeads = hp.HeadCountKv,
                GroupSize = hp.HeadCount / hp.HeadCountKv,
                HeadDim = hp.HeadDim,
                QDim = hp.QDim,
                Scale = AttentionScale,
                Window = sliding ? hp.SlidingWindow : 0,
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

    /// <summary>SwiGLU feed-forward: down(silu(gate·h) ⊙ up·h), or GEGLU with tanh-GELU in place of silu
    /// (<paramref name="geluTanh"/>, gemma), with an optional RMS norm before down (bitnet).
    /// h: [N, n_embd] → output: [N, n_embd].</summary>
    protected void FeedForward(ReadOnlySpan<float> h, FeedForwardWeights w, Span<float> output, float[]? subNorm = null, bool geluTanh = false)
    {
        var gate = Hidden;                                                        // [N, n_ff]
        var up = _buffers.Up.AsSpan(0, gate.Length);                              // [N, n_ff]
        Linear(w.Gate, h, gate);
        Linear(w.Up, h, up);
        if (geluTanh)
            Activation.GeluTanhGlu(gate, up, gate);
        else
            Activation.SwiGlu(gate, up, gate);
        if (subNorm is not null)
            RmsNorm(gate, subNorm, gate);
        Linear(w.Down, gate, output);
    }

    /// <summary>
    /// Mixture-of-Experts: router softmax over experts, the top expert_used_count per token with their weights
    /// renormalized to sum to 1, and the weighted sum of those experts' SwiGLU outputs. Tokens are grouped by expert
    /// so each expert's weights are read once per batch. h: [N, n_embd] → output: [N, n_embd].
    /// </summary>
    protected void MixtureOfExperts(ReadOnlySpan<float> h, ExpertWeights w, Span<float> output)
    {
        var hp = Hyperparameters;
        int d = hp.EmbeddingLength, ff = hp.ExpertFeedForwardLength, nExp = hp.ExpertCount, used = hp.ExpertUsedCount;
        var probs = _buffers.Router.AsSpan(0, N * nExp);                        // [N, n_expert]
        Linear(w.Router, h, probs);
        Activation.Softmax(probs, nExp);

        // Choose each token's experts: [N, used] ids and weights.
        var chosen = _buffers.Chosen.AsSpan(0, N * used);
        var chosenWeight = _buffers.ChosenWeight.AsSpan(0, N * used);
        for (int t = 0; t < N; t++)
        {
            var p = probs.Slice(t * nExp, nExp);
            float sum = 0;
            for (int j = 0; j < used; j++)
            {
                int best = -1;
                for (int e = 0; e < nExp; e++)
                {
                    if ((best < 0 || p[e] > p[best]) && chosen.Slice(t * used, j).IndexOf(e) < 0)
                        best = e;
                }

                chosen[t * used + j] = best;
                chosenWeight[t * used + j] = p[best];
                sum += p[best];
            }

            TensorPrimitives.Divide(chosenWeight.Slice(t * used, used), sum, chosenWeight.Slice(t * used, used));
        }

        output.Clear();
        var xs = _buffers.ExpertIn.AsSpan(0, N * d);        // [m, n_embd] tokens routed to one expert
        var ys = _buffers.ExpertOut.AsSpan(0, N * d);       // [m, n_embd]
        var gate = _buffers.Gate.AsSpan(0, N * ff);         // [m, n_ff_exp]
        var up = _buffers.Up.AsSpan(0, N * ff);
        var rows = _buffers.ExpertTokens.AsSpan(0, N);
        var weights = _buffers.ExpertTokenWeights.AsSpan(0, N);
        for (int e = 0; e < nExp; e++)
        {
            int m = 0;
            for (int i = 0; i < N * used; i++)
            {
                if (chosen[i] != e)
                    continue;
                int t = i / used;
                h.Slice(t * d, d).CopyTo(xs.Slice(m * d, d));
                rows[m] = t;
                weights[m++] = chosenWeight[i];
            }

            if (m == 0)
                continue;
            var x = xs[..(m * d)];
            Matmul.Multiply(w.Gate.Type, w.Gate.Expert(e), ff, d, x, gate[..(m * ff)]);
            Matmul.Multiply(w.Up.Type, w.Up.Expert(e), ff, d, x, up[..(m * ff)]);
            Activation.SwiGlu(gate[..(m * ff)], up[..(m * ff)], gate);
            Matmul.Multiply(w.Down.Type, w.Down.Expert(e), d, ff, gate[..(m * ff)], ys[..(m * d)]);
            for (int i = 0; i < m; i++)
            {
                var y = ys.Slice(i * d, d);
                TensorPrimitives.MultiplyAdd(y, weights[i], output.Slice(rows[i] * d, d), output.Slice(rows[i] * d, d));
            }
        }
    }

    public void Dispose()
    {
        _pool?.Dispose();
        Weights.Dispose();
        if (_ownsFile)
            File.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Scratch buffers of one forward pass; grown to the largest batch seen, then reused.</summary>
    private sealed class ForwardBuffers
    {
        public float[] X = [], H = [], BlockOut = [], Q = [], K = [], V = [], Attn = [], Gate = [], Up = [], OutputRows = [];
        public float[] Cos = [], Sin = [], CosSwa = [], SinSwa = [], Router = [], ChosenWeight = [], ExpertIn = [], ExpertOut = [], ExpertTokenWeights = [];
        public int[] Chosen = [], ExpertTokens = [];
        public float[] Partials = [];
        public Attention.OnlineSoftmax[] PartialStates = [];

        public void EnsurePartials(int floats, int states)
        {
            Grow(ref Partials, floats);
            Grow(ref PartialStates, states);
        }

        public void Ensure(Hyperparameters h, int n, int nOut)
        {
            Grow(ref X, n * h.EmbeddingLength);
            Grow(ref H, n * h.EmbeddingLength);
            Grow(ref BlockOut, n * h.EmbeddingLength);
            Grow(ref Q, n * h.QDim);
            Grow(ref K, n * h.KvDim);
            Grow(ref V, n * h.KvDim);
            Grow(ref Attn, n * h.QDim);
            Grow(ref Gate, n * Math.Max(h.FeedForwardLength, h.ExpertFeedForwardLength));
            Grow(ref Up, n * Math.Max(h.FeedForwardLength, h.ExpertFeedForwardLength));
            Grow(ref OutputRows, nOut * h.EmbeddingLength);
            Grow(ref Cos, n * h.RopeDimensionCount / 2);
            Grow(ref Sin, n * h.RopeDimensionCount / 2);
            if (h.SlidingWindow > 0)
            {
                Grow(ref CosSwa, n * h.RopeDimensionCount / 2);
                Grow(ref SinSwa, n * h.RopeDimensionCount / 2);
            }
            if (h.ExpertCount > 0)
            {
                Grow(ref Router, n * h.ExpertCount);
                Grow(ref Chosen, n * h.ExpertUsedCount);
                Grow(ref ChosenWeight, n * h.ExpertUsedCount);
                Grow(ref ExpertIn, n * h.EmbeddingLength);
                Grow(ref ExpertOut, n * h.EmbeddingLength);
                Grow(ref ExpertTokens, n);
                Grow(ref ExpertTokenWeights, n);
            }
        }

        private static void Grow<T>(ref T[] buffer, int size)
        {
            if (buffer.Length < size)
                buffer = new T[size];
        }
    }
}
