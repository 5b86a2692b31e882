using System.Numerics.Tensors;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>Options for loading a model.</summary>
public sealed record ModelOptions
{
    /// <summary>Threads of the worker pool; 0 means one per processor.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// Matrices of a type with a repacked layout run from that layout (faster; one float sum per row and block).
    /// Off (llama.cpp's --no-repack), every dot product keeps its type's plain kernel, which rounds as llama.cpp's
    /// unrepacked kernels do.
    /// </summary>
    public bool Repack { get; init; } = true;

    /// <summary>Told where loading has got: once the file is mapped, then after each matrix repacked.</summary>
    public Action<LoadProgress>? Progress { get; init; }

    /// <summary>A worker pool shared with other models (their passes take turns; the model does not dispose it), in
    /// place of a pool of <see cref="Threads"/> threads of the model's own.</summary>
    public WorkerPool? Pool { get; init; }
}

/// <summary>
/// How far loading a model has got: its file (the first part of a split model), how many files and bytes are mapped,
/// and how many of the matrices to repack for a faster kernel are done. Loading ends at <c>Repacked == ToRepack</c>.
/// </summary>
public sealed record LoadProgress(string Path, int Parts, long Bytes, int Repacked, int ToRepack);

/// <summary>
/// A decoder-only transformer of the llama family. <see cref="Forward"/> runs one batch of tokens from any number
/// of sequences: embeddings, the architecture's layers (<see cref="ForwardLayer"/>), final norm and output
/// projection for the tokens that want logits. Prompt tokens go through every projection together as matrix ×
/// matrix products. The building blocks the layers share (norms, projections, self-attention over the KV cache,
/// feed-forward and Mixture-of-Experts) live here; each architecture file composes them. Not thread-safe: one
/// forward pass at a time.
/// </summary>
public abstract unsafe partial class DecoderModel : IModelRunner
{
    private readonly ModelOptions _options;
    private WorkerPool? _pool;
    private MatMul? _matmul;
    private readonly ForwardBuffers _buffers;

    // Positions each sequence of the batch writes; reused so that a decode step allocates nothing here.
    private readonly Dictionary<SequenceState, (int Start, int End)> _reserveRanges = [];

    // The distinct RoPE settings of the layers; each step computes one cos/sin table per entry.
    private readonly RopeSpec[] _ropes;
    private readonly bool _ownsFile;

    // The batch being run (valid during Forward).
    private TokenBatch _batch = null!;
    private StateCache _state = null!;

    protected DecoderModel(GgufFile file, ModelConfig config, ModelOptions options, bool ownsFile = true)
    {
        File = file;
        Config = config;
        _ownsFile = ownsFile;
        _options = options;
        var h = config;
        Weights = new WeightLoader(file, options.Repack, options.Progress);
        TokenEmbedding = Weights.Table("token_embd.weight", h.EmbeddingLength, h.VocabSize);
        OutputNorm = Weights.Vector("output_norm.weight", h.EmbeddingLength);
        Output = Weights.TryMatrix("output.weight", h.EmbeddingLength, h.VocabSize)
            ?? Weights.Matrix("token_embd.weight", h.EmbeddingLength, h.VocabSize); // tied when absent
        _ropes = [.. h.Layers.Select(l => l.Attention?.Rope).OfType<RopeSpec>().Distinct()];
        _buffers = new ForwardBuffers(h, _ropes);
    }

    public GgufFile File { get; }
    public ModelConfig Config { get; }
    /// <summary>The model's worker threads, started on first use (so a model that fails to load starts none).</summary>
    public WorkerPool Pool => _pool ??= _options.Pool ?? new WorkerPool(_options.Threads);

    public int Threads => Pool.ThreadCount;

    private MatMul Matmul => _matmul ??= new MatMul(Pool);

    /// <summary>How RoPE pairs dimensions in this architecture.</summary>
    protected abstract RopeStyle RopeStyle { get; }

    /// <summary>What the token embeddings are multiplied by as they enter the first layer (gemma: √n_embd).</summary>
    protected virtual float EmbeddingScale => 1f;

    /// <summary>What each query·key product is multiplied by before the softmax in <paramref name="layer"/>.</summary>
    protected virtual float AttentionScale(AttentionSpec layer) => 1f / MathF.Sqrt(layer.HeadDim);

    internal WeightLoader Weights { get; }
    protected Weight TokenEmbedding { get; }
    protected float[] OutputNorm { get; }
    protected Weight Output { get; }

    /// <summary>Number of tokens in the batch being run.</summary>
    protected int N { get; private set; }

    /// <summary>The residual stream of the batch: [N, n_embd].</summary>
    protected Span<float> X => _buffers.X.AsSpan(0, N * Config.EmbeddingLength);

    /// <summary>Loads a model, choosing the architecture from <c>general.architecture</c>.</summary>
    public static DecoderModel Load(string path, ModelOptions? options = null) => ModelLoader.Load(path, options ?? new ModelOptions());

    /// <summary>State storage for this model's layers: a KV group per kind of attention layer, recurrent slots.</summary>
    public StateCache CreateState(StateOptions options) => new(Config.Layers, options);

    /// <inheritdoc/>
    public void Forward(TokenBatch batch, StateCache state, Span<float> logits, Span<float> hidden = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(state);
        var h = Config;
        if (!state.Fits(h.Layers))
            throw new ArgumentException("the state was laid out for another model's layers", nameof(state));
        if (logits.Length < (long)batch.OutputCount * h.VocabSize)
            throw new ArgumentException($"logits hold {logits.Length} floats, {batch.OutputCount} outputs need {(long)batch.OutputCount * h.VocabSize}", nameof(logits));
        if (hidden.Length < (long)batch.HiddenCount * h.EmbeddingLength)
            throw new ArgumentException($"hidden holds {hidden.Length} floats, {batch.HiddenCount} hidden outputs need {(long)batch.HiddenCount * h.EmbeddingLength}", nameof(hidden));
        if (batch.Count == 0)
            return;
        Reserve(batch, state);

        _batch = batch;
        _state = state;
        N = batch.Count;
        _buffers.Ensure(N, batch.OutputCount, state.Groups.Count);
        for (int g = 0; g < state.Groups.Count; g++)
        {
            var kv = _buffers.GroupSequences[g];
            for (int t = 0; t < N; t++)
                kv[t] = batch.Sequences[t].Kv[g];
        }

        // x = token_embd[tokens]                                   [N, n_embd]
        var tokens = batch.Tokens;
        for (int t = 0; t < N; t++)
            TokenEmbedding.DequantizeRow(tokens[t], X.Slice(t * h.EmbeddingLength, h.EmbeddingLength));
        if (EmbeddingScale != 1f)
            TensorPrimitives.Multiply(X, EmbeddingScale, X);
        ComputeRopeAngles(batch.Positions);

        for (int layer = 0; layer < h.BlockCount; layer++)
            ForwardLayer(layer);

        // hidden = norm(x[hidden outputs])                          [n_hidden, n_embd]
        int d = h.EmbeddingLength;
        int nHidden = batch.HiddenCount, o = 0;
        for (int t = 0; t < N; t++)
        {
            if (batch.Hidden[t])
                Norm.RmsNorm(X.Slice(t * d, d), OutputNorm, h.RmsEpsilon, hidden.Slice(o++ * d, d));
        }

        // logits = output · norm(x[outputs])                       [n_out, n_vocab]
        int nOut = batch.OutputCount;
        var outputs = _buffers.OutputRows.AsSpan(0, nOut * d);
        o = 0;
        for (int t = 0; t < N; t++)
        {
            if (batch.Outputs[t])
                X.Slice(t * d, d).CopyTo(outputs.Slice(o++ * d));
        }

        Norm.RmsNorm(outputs, OutputNorm, h.RmsEpsilon, outputs);
        Linear(Output, outputs, logits[..(nOut * h.VocabSize)]);
        if (h.FinalLogitSoftcap is { } cap)
        {
            // Element-wise (tanhf per logit, ~2 ms for gemma's 262k vocabulary): split across the pool.
            var softCap = new SoftCapJob { Logits = logits[..(nOut * h.VocabSize)], Cap = cap };
            Pool.Run(ref softCap, (softCap.Logits.Length + SoftCapJob.Chunk - 1) / SoftCapJob.Chunk, (long)softCap.Logits.Length * 64);
        }
        _batch = null!;
        _state = null!;
        foreach (var kv in _buffers.GroupSequences)
            Array.Clear(kv); // hold no sequence past the call
    }

    /// <summary>One transformer block over the batch, reading and updating <see cref="X"/>.</summary>
    protected abstract void ForwardLayer(int layer);

    /// <summary>Checks token ids and positions, then makes room in the cache for every sequence in the batch.</summary>
    private void Reserve(TokenBatch batch, StateCache state)
    {
        var h = Config;
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

        // Check that every sequence fits before any changes, so a full cache leaves all as they were.
        int needed = 0;
        foreach (var (sequence, r) in range)
            needed += state.BlocksToWrite(sequence, r.Start, r.End);
        if (needed > state.FreeBlockCount)
            throw new KvCacheFullException($"KV cache full: the batch needs {needed} more blocks of {state.BlockTokens} tokens, {state.FreeBlockCount} free of {state.BlockCount}");
        foreach (var (sequence, r) in range)
            state.PrepareWrite(sequence, r.Start, r.End);
        range.Clear(); // hold no sequence past the call
    }

    /// <summary>RoPE's cos and sin for every token of the batch, one table per distinct RoPE setting of the layers.</summary>
    private void ComputeRopeAngles(ReadOnlySpan<int> positions)
    {
        for (int r = 0; r < _ropes.Length; r++)
        {
            var rope = _ropes[r];
            int half = rope.Dims / 2;
            for (int t = 0; t < positions.Length; t++)
                Rope.Angles(positions[t], rope.Dims, rope.Base, _buffers.Cos[r].AsSpan(t * half, half), _buffers.Sin[r].AsSpan(t * half, half), rope.FreqFactors);
        }
    }

    /// <summary>The cos and sin tables of a RoPE setting: [N, dims/2] each.</summary>
    private (float[] Cos, float[] Sin) RopeTables(RopeSpec rope)
    {
        int r = Array.IndexOf(_ropes, rope);
        return (_buffers.Cos[r], _buffers.Sin[r]);
    }

    // ---- building blocks for the architectures ----

    /// <summary>The batch being run and the state it writes into (valid during a forward pass).</summary>
    private protected TokenBatch Batch => _batch;
    private protected StateCache State => _state;

    /// <summary>An architecture's own scratch of [N, <paramref name="width"/>] floats, grown as needed.</summary>
    protected Span<float> Scratch(ref float[] buffer, int width)
    {
        if (buffer.Length < N * width)
            buffer = new float[N * width];
        return buffer.AsSpan(0, N * width);
    }

    /// <summary>Scratch [N, n_embd] for a layer's normalized input.</summary>
    protected Span<float> H => _buffers.H.AsSpan(0, N * Config.EmbeddingLength);

    /// <summary>Scratch [N, n_embd] for a block's output before it joins the residual stream.</summary>
    protected Span<float> BlockOut => _buffers.BlockOut.AsSpan(0, N * Config.EmbeddingLength);

    /// <summary>Scratch [N, n_embd] for a second block output beside <see cref="BlockOut"/> (gemma4's experts beside its dense FFN).</summary>
    protected Span<float> SecondOut => _buffers.SecondOut.AsSpan(0, N * Config.EmbeddingLength);

    /// <summary>Scratch [N, n_head·head_dim] for the attention heads' output of <paramref name="layer"/>.</summary>
    protected Span<float> Heads(int layer) => _buffers.Attn.AsSpan(0, N * Config.Layers[layer].Attention!.QDim);

    /// <summary>Scratch [N, n_ff] for a feed-forward block's hidden activations.</summary>
    protected Span<float> Hidden => _buffers.Gate.AsSpan(0, N * Config.FeedForwardLength);

    protected void RmsNorm(ReadOnlySpan<float> x, float[] weight, Span<float> y) => Norm.RmsNorm(x, weight, Config.RmsEpsilon, y);

    /// <summary>y [n, rows] = x [n, cols] · Wᵀ (+ bias).</summary>
    protected void Linear(Weight w, ReadOnlySpan<float> x, Span<float> y, float[]? bias = null)
    {
        if (w.Repacked != null)
            Matmul.MultiplyRepacked(w.Type, w.Repacked, w.Rows, w.Cols, x, y);
        else
            Matmul.Multiply(w.Type, w.Address, w.Rows, w.Cols, x, y);
        if (bias is not null)
        {
            for (int row = 0; row < y.Length; row += bias.Length)
                TensorPrimitives.Add(y.Slice(row, bias.Length), bias, y.Slice(row, bias.Length));
        }
    }

    protected static void AddTo(Span<float> x, ReadOnlySpan<float> y) => TensorPrimitives.Add(x, y, x);

    public void Dispose()
    {
        if (_options.Pool is null)
            _pool?.Dispose();
        Weights.Dispose();
        if (_ownsFile)
            File.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Scratch buffers of one forward pass, sized for the widest layer; grown to the largest batch seen, then reused.</summary>
    private sealed class ForwardBuffers(ModelConfig h, RopeSpec[] ropes)
    {
        private readonly int _qDim = h.Layers.Max(l => l.Attention?.QDim ?? 0);
        private readonly int _kvDim = h.Layers.Max(l => l.Attention?.KvDim ?? 0);

        public float[] X = [], H = [], BlockOut = [], SecondOut = [], Q = [], K = [], V = [], Attn = [], Gate = [], Up = [], OutputRows = [];
        public float[][] Cos = [], Sin = [];
        public KvSequence[][] GroupSequences = [];
        public float[] Router = [], RouterIn = [], ChosenWeight = [], ExpertIn = [], ExpertOut = [];
        public int[] Chosen = [], ExpertTokens = [], ExpertRow = [], ExpertStart = [];
        public float[] Partials = [];
        public Attention.OnlineSoftmax[] PartialStates = [];

        public void EnsurePartials(int floats, int states)
        {
            Grow(ref Partials, floats);
            Grow(ref PartialStates, states);
        }

        public void Ensure(int n, int nOut, int groups)
        {
            int qDim = _qDim, kvDim = _kvDim;
            Grow(ref X, n * h.EmbeddingLength);
            Grow(ref H, n * h.EmbeddingLength);
            Grow(ref BlockOut, n * h.EmbeddingLength);
            if (h.Layers.Any(l => l.FeedForward == FeedForwardKind.DenseAndExperts))
                Grow(ref SecondOut, n * h.EmbeddingLength);
            Grow(ref Q, n * qDim);
            Grow(ref K, n * kvDim);
            Grow(ref V, n * kvDim);
            Grow(ref Attn, n * qDim);
            Grow(ref Gate, n * Math.Max(h.FeedForwardLength, h.SharedExpertFeedForwardLength));
            Grow(ref Up, n * Math.Max(h.FeedForwardLength, h.SharedExpertFeedForwardLength));
            Grow(ref OutputRows, nOut * h.EmbeddingLength);
            if (Cos.Length != ropes.Length)
            {
                Cos = new float[ropes.Length][];
                Sin = new float[ropes.Length][];
            }

            for (int r = 0; r < ropes.Length; r++)
            {
                Grow(ref Cos[r], n * ropes[r].Dims / 2);
                Grow(ref Sin[r], n * ropes[r].Dims / 2);
            }

            if (GroupSequences.Length != groups)
                GroupSequences = new KvSequence[groups][];
            for (int g = 0; g < groups; g++)
                Grow(ref GroupSequences[g], n);
            if (h.ExpertCount > 0)
            {
                // Every token's chosen experts, gathered by expert: [N·used] rows.
                int rows = n * h.ExpertUsedCount;
                Grow(ref Router, n * h.ExpertCount);
                Grow(ref RouterIn, n * h.EmbeddingLength);
                Grow(ref Chosen, rows);
                Grow(ref ChosenWeight, rows);
                Grow(ref ExpertIn, rows * h.EmbeddingLength);
                Grow(ref ExpertOut, rows * h.EmbeddingLength);
                Grow(ref ExpertTokens, rows);
                Grow(ref ExpertRow, rows);
                Grow(ref ExpertStart, h.ExpertCount + 1);
                Grow(ref Gate, rows * 2 * h.ExpertFeedForwardLength); // room for a fused gate+up
                Grow(ref Up, rows * h.ExpertFeedForwardLength);
            }
        }

        private static void Grow<T>(ref T[] buffer, int size)
        {
            if (buffer is null || buffer.Length < size)
                buffer = new T[size];
        }
    }

    /// <summary>Soft-capping of one chunk of logits.</summary>
    private ref struct SoftCapJob : IParallelJob
    {
        public const int Chunk = 16384;
        public Span<float> Logits;
        public float Cap;

        public readonly void Execute(int index)
        {
            int start = index * Chunk;
            Activation.SoftCap(Logits.Slice(start, Math.Min(Chunk, Logits.Length - start)), Cap);
        }
    }
}
