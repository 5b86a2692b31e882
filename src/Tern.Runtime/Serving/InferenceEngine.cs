using Tern.Models;
using Tern.Tokenizers;

namespace Tern.Runtime.Serving;

/// <summary>
/// Serves many concurrent requests from one model with continuous batching (the request path of DESIGN.md): a
/// background loop runs engine steps, each schedule → execute (one <see cref="IModelRunner.Forward"/> over the
/// next token of every decoding sequence and chunks of prompts still being processed) → sample → update.
/// Requests join and leave between steps; up to <see cref="EngineOptions.Parallel"/> run at once and the rest wait
/// in a bounded FIFO queue. Full KV blocks are kept in a prefix cache so prompts that share a prefix skip it.
/// <see cref="Submit"/>, <see cref="GetStats"/> and cancellation are thread-safe. While the engine runs it must be
/// the model's only user (a forward pass is not thread-safe).
/// </summary>
public sealed partial class InferenceEngine : IDisposable
{
    private readonly bool _ownsModel;
    private readonly StateCache _kv;
    private readonly PrefixCache? _prefixCache;
    private readonly Thread _loop;
    private readonly int _vocab;
    private readonly long _kvBlockBytes;

    // Guards the waiting queue, the active count and _disposed: the only state Submit shares with the loop.
    private readonly Lock _gate = new();
    private readonly LinkedList<Sequence> _waiting = [];
    private int _active;
    private bool _disposed;

    private readonly ManualResetEventSlim _wake = new(false);
    private long _nextId;
    private long _requestsTotal;
    private long _requestsRejected;

    /// <param name="ownsModel">Dispose the model with the engine.</param>
    public InferenceEngine(IModelRunner model, Tokenizer tokenizer, EngineOptions? options = null, bool ownsModel = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        options ??= new EngineOptions();
        options.Validate();
        Model = model;
        Tokenizer = tokenizer;
        Options = options;
        _ownsModel = ownsModel;
        _vocab = model.Config.VocabSize;
        int modelContext = model.Config.ContextLength > 0 ? model.Config.ContextLength : EngineOptions.DefaultMaxContext;
        ContextPerSequence = options.ContextPerSequence ?? Math.Min(modelContext, EngineOptions.DefaultMaxContext);

        // Every running sequence can always grow to its full context: blocks only the prefix cache holds are
        // evicted when the pool runs short, so no sequence ever has to be preempted.
        int bs = options.KvBlockTokens;
        int perSequence = (ContextPerSequence + bs - 1) / bs;
        int prefixTokens = options.PrefixCacheTokens ?? (options.PrefixCache ? ContextPerSequence : 0);
        int blocks = checked(options.Parallel * perSequence + (prefixTokens + bs - 1) / bs);
        _kv = model.CreateState(new StateOptions
        {
            CapacityTokens = checked(blocks * bs),
            BlockTokens = bs,
            KeyType = options.KeyType,
            ValueType = options.ValueType,
            RecurrentSlots = options.Parallel + (options.PrefixCache ? options.RecurrentCheckpoints : 0),
        });
        _kvBlockBytes = _kv.KvBytesPerToken * bs;
        _prefixCache = options.PrefixCache ? new PrefixCache(_kv) : null;
        _disk = OpenDiskCache();

        _slots = new Sequence?[options.Parallel];
        _slotTokens = new int[]?[options.Parallel];
        _samplerBuffers = new Tern.Runtime.Sampling.SamplerBuffers?[options.Parallel];
        _logits = new float[(long)options.Parallel * _vocab]; // [Parallel, n_vocab]: at most one output row per sequence
        _stats = Snapshot();
        _loop = new Thread(Run) { IsBackground = true, Name = "Tern inference loop" };
        _loop.Start();
    }

    public IModelRunner Model { get; }

    public Tokenizer Tokenizer { get; }

    public EngineOptions Options { get; }

    public int Parallel => Options.Parallel;

    /// <summary>Positions each sequence may hold (the resolved <see cref="EngineOptions.ContextPerSequence"/>).</summary>
    public int ContextPerSequence { get; }

    /// <summary>Bytes reserved for the KV pools (committed by the OS as they are first written).</summary>
    public long ReservedKvBytes => _kv.KvBytes;

    /// <summary>Bytes reserved for the recurrent state of the sequences (0 for a model without recurrent layers).</summary>
    public long ReservedRecurrentBytes => _kv.RecurrentBytes;

    /// <summary>The KV cache's key and value types (llama.cpp's names: f16, q8_0, q4_0).</summary>
    public string KvTypes => $"{KvCache.Name(_kv.KeyType)}/{KvCache.Name(_kv.ValueType)}";

    public int KvBlockCount => _kv.BlockCount;

    /// <summary>
    /// Queues a request and returns its event stream at once; generation starts when a sequence slot is free.
    /// Cancelling <paramref name="cancellationToken"/> (a client that went away) removes the request within one
    /// step, frees its KV blocks and ends its stream with a <see cref="FinishReason.Cancelled"/> finish.
    /// </summary>
    /// <exception cref="ArgumentException">An invalid request (names the field; sampling values as <see cref="Sampling.SamplingParams.Validate"/>).</exception>
    /// <exception cref="ContextLengthExceededException">The prompt can never fit in <see cref="ContextPerSequence"/>.</exception>
    /// <exception cref="QueueFullException">Every slot is busy and the queue is full.</exception>
    public GenerationStream Submit(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        int[] prompt = Validate(request);
        cancellationToken.ThrowIfCancellationRequested();
        string id = request.Id ?? $"req-{Interlocked.Increment(ref _nextId)}";
        var sequence = new Sequence(id, request, prompt);
        if (cancellationToken.CanBeCanceled)
        {
            sequence.Registration = cancellationToken.Register(static state =>
            {
                var (s, engine) = ((Sequence, InferenceEngine))state!;
                s.CancelRequested = true;
                engine._wake.Set();
            }, (sequence, this));
        }

        try
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_waiting.Count + _active >= Options.Parallel + Options.QueueCapacity)
                {
                    Interlocked.Increment(ref _requestsRejected);
                    throw new QueueFullException(Options.Parallel, Options.QueueCapacity);
                }

                _waiting.AddLast(sequence);
                Interlocked.Increment(ref _requestsTotal);
            }
        }
        catch
        {
            sequence.Registration.Dispose();
            throw;
        }

        _wake.Set();
        return new GenerationStream(id, prompt.Length, sequence.Events.Reader);
    }

    /// <summary>Counters, gauges and slots as of the end of the latest step (queue depth and request total: now).</summary>
    public EngineStats GetStats()
    {
        int waiting;
        lock (_gate)
            waiting = _waiting.Count;
        return _stats with
        {
            RequestsTotal = Interlocked.Read(ref _requestsTotal),
            RequestsRejected = Interlocked.Read(ref _requestsRejected),
            QueueDepth = waiting,
        };
    }

    private int[] Validate(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.PromptTokens is null)
            throw new ArgumentNullException(nameof(request), $"{nameof(GenerationRequest.PromptTokens)} is null.");
        int[] prompt = [.. request.PromptTokens];
        if (prompt.Length == 0)
            throw new ArgumentException("The prompt is empty: there is nothing to continue.", nameof(GenerationRequest.PromptTokens));
        foreach (int token in prompt)
        {
            if ((uint)token >= (uint)_vocab)
                throw new ArgumentOutOfRangeException(nameof(GenerationRequest.PromptTokens), token, $"Prompt token {token} is outside the vocabulary (0..{_vocab - 1}).");
        }

        if (request.Sampling is null)
            throw new ArgumentNullException(nameof(request), $"{nameof(GenerationRequest.Sampling)} is null.");
        request.Sampling.Validate(_vocab);
        if (request.MaxTokens is < 0)
            throw new ArgumentOutOfRangeException(nameof(GenerationRequest.MaxTokens), request.MaxTokens, $"{nameof(GenerationRequest.MaxTokens)} must be >= 0.");
        if (request.TopLogprobs < 0 || request.TopLogprobs > _vocab)
            throw new ArgumentOutOfRangeException(nameof(GenerationRequest.TopLogprobs), request.TopLogprobs, $"{nameof(GenerationRequest.TopLogprobs)} must be in [0, {_vocab}].");
        if (request.Stop is null)
            throw new ArgumentNullException(nameof(request), $"{nameof(GenerationRequest.Stop)} is null.");
        if (request.Slot is { } slot && (slot < 0 || slot >= Options.Parallel))
            throw new ArgumentOutOfRangeException(nameof(GenerationRequest.Slot), slot, $"{nameof(GenerationRequest.Slot)} must be in [0, {Options.Parallel - 1}].");
        if (prompt.Length >= ContextPerSequence)
            throw new ContextLengthExceededException(prompt.Length, ContextPerSequence);
        return prompt;
    }

    /// <summary>Stops the loop: requests still queued or running end with a <see cref="FinishReason.Cancelled"/> finish.</summary>
    public void Dispose()
    {
        if (Thread.CurrentThread == _loop)
            throw new InvalidOperationException("The engine cannot be disposed from its own loop thread.");
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
        }

        lock (_pauseLock)
        {
            _stopping = true;
            Monitor.PulseAll(_pauseLock);
        }

        _wake.Set();
        _loop.Join();
        FlushDiskCache();
        _kv.Dispose();
        _wake.Dispose();
        if (_ownsModel)
            Model.Dispose();
    }
}
