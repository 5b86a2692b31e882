using System.Diagnostics;
using System.Runtime.InteropServices;
using Tern.Models;
using Tern.Runtime.Grammar;
using Tern.Runtime.Sampling;

namespace Tern.Runtime.Serving;

/// <summary>What one engine step ran (a test hook).</summary>
internal sealed record StepRecord(long Step, int Tokens, IReadOnlyList<StepChunk> Chunks);

/// <summary>One sequence's share of a step: <paramref name="Count"/> tokens from position <paramref name="Start"/>.</summary>
internal readonly record struct StepChunk(string RequestId, int Start, int Count, bool Prompt);

// The loop thread: everything here runs on it alone.
public sealed partial class InferenceEngine
{
    private readonly List<Sequence> _running = [];
    private readonly Sequence?[] _slots;
    private readonly SamplerBuffers?[] _samplerBuffers; // one set per slot, lent to the request running in it
    private readonly List<ScheduledChunk> _plan = [];
    private readonly TokenBatch _batch = new();
    private readonly float[] _logits;
    private float[] _hidden = [];
    private readonly List<int[]> _matched = [];
    private readonly List<int> _checkpoints = [];

    // Final events and failures, delivered after the stats are published so a reader that sees a request end
    // also sees its effects (blocks freed, tokens counted).
    private readonly List<(Sequence Sequence, GenerationFinished? Finished, Exception? Error)> _endings = [];
    private volatile EngineStats _stats;

    private readonly object _pauseLock = new(); // a Monitor (Wait/Pulse), not a Lock
    private bool _paused, _parked, _stopping;

    private long _finished, _cancelled, _failed, _promptProcessed, _cachedPrompt, _generated, _hits, _steps;

    /// <summary>
    /// Test double for the model's token output (tests only): given a request id and how many tokens it has
    /// generated, a token to use instead of the sampled one, or null to keep the sample. Everything after the
    /// choice of token (detokenizing, stop checks, streaming, usage) runs as in production.
    /// </summary>
    internal Func<string, int, int?>? TokenOverride { get; set; }

    /// <summary>Called on the loop thread after each step (tests).</summary>
    internal Action<StepRecord>? StepObserver { get; set; }

    /// <summary>
    /// Holds the loop before its next step and, unless called from the loop itself, waits until it is held
    /// (tests: queue several requests so that they start together).
    /// </summary>
    internal void Pause()
    {
        lock (_pauseLock)
            _paused = true;
        _wake.Set();
        if (Thread.CurrentThread == _loop)
            return;
        lock (_pauseLock)
        {
            while (!_parked && !_stopping)
                Monitor.Wait(_pauseLock);
        }
    }

    internal void Resume()
    {
        lock (_pauseLock)
        {
            _paused = false;
            Monitor.PulseAll(_pauseLock);
        }
    }

    private void Run()
    {
        while (true)
        {
            _wake.Reset();
            lock (_pauseLock)
            {
                while (_paused && !_stopping)
                {
                    _parked = true;
                    Monitor.PulseAll(_pauseLock);
                    Monitor.Wait(_pauseLock);
                }

                _parked = false;
                if (_stopping)
                    break;
            }

            StepRecord? step = null;
            bool idle = false;
            try
            {
                step = Step(out idle);
            }
            catch (Exception e)
            {
                // A bug outside the per-request guards: fail what was running, keep serving.
                foreach (var s in _running.ToArray())
                    Fail(s, e);
            }

            Publish();
            Deliver();
            if (step is not null && StepObserver is { } observer)
            {
                try
                {
                    observer(step);
                }
                catch (Exception)
                {
                    // a test hook must not stop the loop
                }
            }

            if (idle)
                _wake.Wait();
        }

        Shutdown();
    }

    /// <summary>One engine step: drop cancelled requests, admit waiting ones, then schedule → execute → sample → update.</summary>
    private StepRecord? Step(out bool idle)
    {
        RunLoopWork();
        DropCancelled();
        Admit();
        idle = _running.Count == 0;
        if (idle)
            return null;

        // Schedule.
        Scheduler.Plan(_running, Options.StepTokenBudget, _plan, Checkpointing ? Options.CheckpointEvery : 0, _kv.BlockTokens);
        _batch.Clear();
        int needed = 0;
        foreach (var chunk in _plan)
        {
            var s = chunk.Sequence;
            var tokens = CollectionsMarshal.AsSpan(s.Tokens).Slice(chunk.Start, chunk.Count);
            if (s.Request.Embedding is { } pooling)
            {
                for (int i = 0; i < tokens.Length; i++)
                    _batch.Add(tokens[i], chunk.Start + i, s.Kv, logits: false, hidden: Pools(pooling, chunk.Start + i, s.Prompt.Length));
            }
            else
            {
                _batch.AddRange(tokens, chunk.Start, s.Kv, chunk.WantsLogits);
            }

            needed += _kv.BlocksToWrite(s.Kv, chunk.Start, chunk.Start + chunk.Count);
        }

        if (needed > _kv.FreeBlockCount)
            _prefixCache?.Evict(needed - _kv.FreeBlockCount);
        var record = StepObserver is null ? null : new StepRecord(_steps + 1, _batch.Count,
            _plan.Select(c => new StepChunk(c.Sequence.Id, c.Start, c.Count, c.Start < c.Sequence.Prompt.Length)).ToArray());

        // Execute. A failed forward pass leaves every sequence in it with unknown keys and values: fail them all.
        try
        {
            if (needed > _kv.FreeBlockCount)
                throw new KvCacheFullException($"KV cache full: the step needs {needed} blocks, {_kv.FreeBlockCount} are free of {_kv.BlockCount}");
            int d = Model.Config.EmbeddingLength;
            if (_hidden.Length < _batch.HiddenCount * d)
                _hidden = new float[_batch.HiddenCount * d];
            Model.Forward(_batch, _kv, _logits.AsSpan(0, _batch.OutputCount * _vocab), _hidden.AsSpan(0, _batch.HiddenCount * d));
        }
        catch (Exception e)
        {
            foreach (var chunk in _plan)
                Fail(chunk.Sequence, e);
            return record;
        }

        _steps++;

        // Sample (or pool) and update; a failure here ends only its own request.
        int row = 0, hiddenRow = 0;
        foreach (var chunk in _plan)
        {
            var s = chunk.Sequence;
            bool sampled = chunk.WantsLogits && s.Request.Embedding is null;
            try
            {
                if (chunk.Start < s.Prompt.Length)
                {
                    s.PromptProcessed += chunk.Count;
                    _promptProcessed += chunk.Count;
                }

                if (_prefixCache is not null)
                {
                    RegisterFullBlocks(s);
                    if (Checkpointing)
                        Checkpoint(s);
                }
                if (s.Request.Embedding is { } pooling)
                    hiddenRow = Pool(s, pooling, chunk, hiddenRow);
                else if (sampled)
                    Advance(s, _logits.AsSpan(row * _vocab, _vocab));
            }
            catch (Exception e)
            {
                Fail(s, e);
            }

            if (sampled)
                row++;
        }

        return record;
    }

    private void DropCancelled()
    {
        for (int i = _running.Count - 1; i >= 0; i--)
        {
            if (_running[i].CancelRequested)
                Finish(_running[i], StopReason.None, null);
        }

        List<Sequence>? dropped = null;
        lock (_gate)
        {
            for (var node = _waiting.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.CancelRequested)
                {
                    (dropped ??= []).Add(node.Value);
                    _waiting.Remove(node);
                }

                node = next;
            }
        }

        foreach (var s in dropped ?? [])
            Finish(s, StopReason.None, null);
    }

    private void Admit()
    {
        while (_running.Count < Options.Parallel)
        {
            Sequence s;
            lock (_gate)
            {
                if (_waiting.First is null)
                    return;
                s = _waiting.First.Value;
                _waiting.RemoveFirst();
                _active++;
            }

            s.Slot = Array.IndexOf(_slots, null);
            _slots[s.Slot] = s;
            _running.Add(s);
            try
            {
                Start(s);
            }
            catch (Exception e)
            {
                Fail(s, e);
            }
        }
    }

    /// <summary>Gives an admitted request its KV sequence (sharing the longest cached prefix of its prompt) and its sampler.</summary>
    private void Start(Sequence s)
    {
        s.AdmittedAt = Stopwatch.GetTimestamp();
        Unpin(); // what a failed admission left pinned
        s.Tokens.AddRange(s.Prompt);
        int bs = _kv.BlockTokens;
        int cached = 0, checkpoint = -1;
        _matched.Clear();
        // Mean and CLS pooling need every prompt token's (or the first one's) hidden state: they reuse no prefix.
        if (_prefixCache is not null && s.Request.Embedding is null or Pooling.Last)
        {
            _prefixCache.ExtendHashes(s.Prompt, s.BlockHashes);
            _checkpoints.Clear();
            _prefixCache.Match(s.Prompt, s.BlockHashes, _matched, _checkpoints);
            if (_disk is not null)
                MatchOnDisk(s);
            // The last prompt token always runs again: its logits are needed to sample the first token. When the
            // whole prompt is cached, its last block is copied on that write and the cached one stays intact.
            cached = Checkpointing
                ? ResumableFromCheckpoint(s.Prompt.Length - 1, out checkpoint)
                : _kv.Resumable(_matched, Math.Min(_matched.Count * bs, s.Prompt.Length - 1));
        }

        s.Kv = _kv.CreateSequence(_matched.GetRange(0, (cached + bs - 1) / bs), cached);
        Unpin();
        if (checkpoint >= 0)
            _kv.Restore(s.Kv, checkpoint);
        s.RegisteredBlocks = cached / bs;
        s.CachedTokens = cached;
        _cachedPrompt += cached;
        if (cached > 0)
            _hits++;

        var r = s.Request;
        s.Sampler = new SamplerChain(r.Sampling, _vocab, _samplerBuffers[s.Slot] ??= new SamplerBuffers(_vocab));
        s.Stop = new StopCondition(r.MaxTokens, Tokenizer.IsEndOfGeneration);
        s.Grammar = r.Grammar is null ? null
            : r.GrammarTrigger is { } trigger ? new LazyGrammarConstraint(r.Grammar, GrammarVocabulary.For(Tokenizer), trigger)
            : new GrammarConstraint(r.Grammar, GrammarVocabulary.For(Tokenizer));
        s.StopStrings = new StopStringMatcher(r.Stop);
        // The text continues the prompt: a leading space of the first generated token stays (as OpenAI and llama.cpp).
        s.Detokenizer = Tokenizer.CreateDetokenizer(removeSpecial: true, renderSpecial: false, atSequenceStart: false);
        s.Top = r.TopLogprobs > 0 ? new TokenLogprob[r.TopLogprobs] : [];
    }

    /// <summary>Whether the model's recurrent state is checkpointed for prefix reuse.</summary>
    private bool Checkpointing => _prefixCache is not null && _kv.Recurrent is not null && Options.RecurrentCheckpoints > 0;

    /// <summary>
    /// The longest matched prefix, up to <paramref name="limit"/> positions, that ends in a block with a recurrent
    /// checkpoint and still has its sliding windows; 0 (and no checkpoint) when there is none.
    /// </summary>
    private int ResumableFromCheckpoint(int limit, out int checkpoint)
    {
        int bs = _kv.BlockTokens;
        for (int i = _matched.Count - 1; i >= 0; i--)
        {
            int length = (i + 1) * bs;
            if (_checkpoints[i] >= 0 && length <= limit && _kv.ResumableKv(_matched, length) == length)
            {
                checkpoint = _checkpoints[i];
                return length;
            }
        }

        checkpoint = -1;
        return 0;
    }

    /// <summary>
    /// After a step: copies the recurrent state of a sequence that has just filled a block at a checkpoint position
    /// (every <see cref="EngineOptions.CheckpointEvery"/> prompt positions, the prompt's last whole block, or any block
    /// while decoding, replacing its previous decoding checkpoint) into the prefix cache's entry for that block.
    /// </summary>
    private void Checkpoint(Sequence s)
    {
        int bs = _kv.BlockTokens, length = s.Kv.Length;
        if (length % bs != 0 || length / bs > s.RegisteredBlocks || length == 0)
            return;
        bool decoding = length > s.Prompt.Length;
        if (!decoding && !Scheduler.IsCheckpoint(length, s.Prompt.Length, Options.CheckpointEvery, bs))
            return;
        if (_prefixCache!.Checkpoints >= Options.RecurrentCheckpoints)
            _prefixCache.EvictCheckpoint();
        int slot = _kv.SaveCheckpoint(s.Kv);
        if (slot < 0)
            return;
        ulong hash = s.BlockHashes[length / bs - 1];
        if (!_prefixCache.AddCheckpoint(hash, slot))
        {
            _kv.ReleaseCheckpoint(slot);
            return;
        }

        if (_disk is not null)
            WriteToDisk(_prefixCache.Get(hash)!.Value, wait: false); // the block again, now with its checkpoint

        if (decoding)
        {
            if (s.DecodeCheckpoint is { } previous)
                _prefixCache.DropCheckpoint(previous);
            s.DecodeCheckpoint = hash;
        }
    }

    /// <summary>Offers the sequence's newly filled blocks (prompt and generated tokens alike) to the prefix cache.</summary>
    private void RegisterFullBlocks(Sequence s)
    {
        int bs = _kv.BlockTokens;
        int full = s.Kv.Length / bs;
        if (s.RegisteredBlocks >= full)
            return;
        var tokens = CollectionsMarshal.AsSpan(s.Tokens)[..(full * bs)];
        _prefixCache!.ExtendHashes(tokens, s.BlockHashes);
        for (int i = s.RegisteredBlocks; i < full; i++)
        {
            if (_prefixCache.Register(s.Kv, i, s.BlockHashes[i], i == 0 ? PrefixCache.RootHash : s.BlockHashes[i - 1], tokens.Slice(i * bs, bs)) is { } added)
                WriteToDisk(added, wait: false);
        }

        s.RegisteredBlocks = full;
    }

    /// <summary>Whether the token at <paramref name="position"/> of a prompt of <paramref name="length"/> tokens joins the pooled vector.</summary>
    private static bool Pools(Pooling pooling, int position, int length) => pooling switch
    {
        Pooling.Mean => true,
        Pooling.Cls => position == 0,
        _ => position == length - 1,
    };

    /// <summary>
    /// Adds an embedding request's hidden rows of this step (from <paramref name="row"/> on) to its pooled vector; once
    /// the whole prompt has run, sends the vector and finishes the request. Returns the next step row.
    /// </summary>
    private int Pool(Sequence s, Pooling pooling, ScheduledChunk chunk, int row)
    {
        int d = Model.Config.EmbeddingLength;
        s.Pooled ??= new float[d];
        for (int position = chunk.Start; position < chunk.Start + chunk.Count; position++)
        {
            if (Pools(pooling, position, s.Prompt.Length))
                System.Numerics.Tensors.TensorPrimitives.Add(s.Pooled, _hidden.AsSpan(row++ * d, d), s.Pooled);
        }

        if (s.Kv.Length < s.Prompt.Length)
            return row;
        s.PromptDoneAt = Stopwatch.GetTimestamp();
        if (pooling == Pooling.Mean)
            System.Numerics.Tensors.TensorPrimitives.Divide(s.Pooled, s.Prompt.Length, s.Pooled);
        s.Events.Writer.TryWrite(new GenerationEmbedding(s.Pooled));
        Finish(s, StopReason.EndOfGeneration, null);
        return row;
    }

    /// <summary>Samples the sequence's next token from its logits, streams the text it completes and checks the stop conditions.</summary>
    private void Advance(Sequence s, ReadOnlySpan<float> logits)
    {
        if (s.PromptDoneAt == 0)
            s.PromptDoneAt = Stopwatch.GetTimestamp();
        if (s.Request.MaxTokens is { } max && s.Generated >= max)
        {
            Finish(s, StopReason.Length, null); // max_tokens 0: the prompt was only evaluated (and cached)
            return;
        }

        var result = s.Sampler.Sample(logits, CollectionsMarshal.AsSpan(s.Tokens), s.Top, s.Grammar);
        if (TokenOverride?.Invoke(s.Id, s.Generated) is { } forced)
            result = result with { Token = forced };
        s.Grammar?.Accept(result.Token);
        var reason = s.Stop.Check(result.Token, s.Generated + 1);
        if (reason == StopReason.None && s.Grammar is { MustEnd: true })
            reason = StopReason.GrammarComplete; // the text is whole and nothing may follow
        string text = "";
        string? stopString = null;
        GeneratedToken[] tokens = [];
        if (reason != StopReason.EndOfGeneration)
        {
            s.Generated++;
            _generated++;
            s.Tokens.Add(result.Token);
            tokens = [new GeneratedToken(result.Token, result.Logprob, result.TopCount == 0 ? [] : s.Top[..result.TopCount])];
            var piece = s.StopStrings.Push(s.Detokenizer.Append(result.Token));
            text = piece.Text;
            if (piece.Stopped)
                (reason, stopString) = (StopReason.StopString, piece.StopString);
            else if (reason == StopReason.None && s.Tokens.Count >= ContextPerSequence)
                reason = StopReason.Length;
        }

        if (reason is not (StopReason.None or StopReason.StopString))
        {
            // Ending: release the text held back for incomplete characters and possible stop strings.
            var rest = s.StopStrings.Push(s.Detokenizer.Flush());
            text += rest.Text;
            if (rest.Stopped)
                (reason, stopString) = (StopReason.StopString, rest.StopString);
            else
                text += s.StopStrings.Flush();
        }

        if (tokens.Length > 0 || text.Length > 0)
            s.Events.Writer.TryWrite(new GenerationDelta(text, tokens));
        if (reason != StopReason.None)
            Finish(s, reason, stopString);
    }

    /// <summary>Ends a request: StopReason.None means cancelled.</summary>
    private void Finish(Sequence s, StopReason reason, string? stopString)
    {
        Release(s);
        var finish = reason switch
        {
            StopReason.None => FinishReason.Cancelled,
            StopReason.Length => FinishReason.Length,
            _ => FinishReason.Stop,
        };
        if (finish == FinishReason.Cancelled)
            _cancelled++;
        else
            _finished++;
        var final = new GenerationFinished(finish, reason, stopString, s.Usage, s.Timings(Stopwatch.GetTimestamp()), s.Sampler?.Seed ?? 0);
        _endings.Add((s, final, null));
    }

    private void Fail(Sequence s, Exception error)
    {
        if (_endings.Exists(e => e.Sequence == s))
            return; // already ended this step
        Release(s);
        _failed++;
        _endings.Add((s, null, error));
    }

    /// <summary>Takes the sequence out of its slot and returns its KV blocks (cached ones stay with the prefix cache).</summary>
    private void Release(Sequence s)
    {
        RememberSlot(s);
        if (s.Slot >= 0)
        {
            _slots[s.Slot] = null;
            _running.Remove(s);
            s.Slot = -1;
            lock (_gate)
                _active--;
        }

        if (s.Kv is { } kv)
        {
            _prefixCache?.Touch(kv.Blocks);
            _kv.Free(kv);
        }
    }

    private void Deliver()
    {
        foreach (var (s, finished, error) in _endings)
        {
            if (finished is not null)
            {
                s.Events.Writer.TryWrite(finished);
                s.Events.Writer.TryComplete();
            }
            else
            {
                s.Events.Writer.TryComplete(error);
            }

            s.Registration.Dispose();
        }

        _endings.Clear();
    }

    private void Publish() => _stats = Snapshot();

    private EngineStats Snapshot()
    {
        var slots = new SlotSnapshot[_slots.Length];
        for (int i = 0; i < slots.Length; i++)
        {
            slots[i] = _slots[i] is { } s
                ? new SlotSnapshot(i, s.Prefilling ? SlotState.Prefilling : SlotState.Decoding, s.Id, s.Prompt.Length, s.CachedTokens, s.PromptProcessed, s.Generated)
                : new SlotSnapshot(i, SlotState.Idle, null, 0, 0, 0, 0);
        }

        return new EngineStats
        {
            RequestsTotal = Interlocked.Read(ref _requestsTotal),
            RequestsFinished = _finished,
            RequestsCancelled = _cancelled,
            RequestsFailed = _failed,
            RequestsRejected = Interlocked.Read(ref _requestsRejected),
            PromptTokensProcessed = _promptProcessed,
            CachedPromptTokens = _cachedPrompt,
            GeneratedTokens = _generated,
            PrefixCacheHits = _hits,
            PrefixCacheEvictions = _prefixCache?.Evictions ?? 0,
            DiskCache = _disk?.Stats(),
            DiskCacheHitTokens = _diskHitTokens,
            Steps = _steps,
            ActiveSequences = _running.Count,
            KvBlocksUsed = _kv.BlockCount - _kv.FreeBlockCount,
            KvBlocksCachedOnly = _prefixCache?.CountCachedOnly() ?? 0,
            KvBlocksTotal = _kv.BlockCount,
            KvBlockTokens = _kv.BlockTokens,
            KvBlockBytes = _kvBlockBytes,
            RecurrentSlotsUsed = _running.Count(s => s.Kv.RecurrentSlot >= 0),
            RecurrentSlotsTotal = _kv.Recurrent?.Slots ?? 0,
            RecurrentSlotBytes = _kv.Recurrent?.SlotBytes ?? 0,
            Slots = slots,
        };
    }

    /// <summary>The engine is being disposed: every request still queued or running ends as cancelled.</summary>
    private void Shutdown()
    {
        RunLoopWork(stopping: true);
        foreach (var s in _running.ToArray())
            Finish(s, StopReason.None, null);
        Sequence[] waiting;
        lock (_gate)
        {
            waiting = [.. _waiting];
            _waiting.Clear();
        }

        foreach (var s in waiting)
            Finish(s, StopReason.None, null);
        Publish();
        Deliver();
    }
}
