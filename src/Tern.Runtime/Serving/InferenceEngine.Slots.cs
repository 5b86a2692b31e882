using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Tern.Models;

namespace Tern.Runtime.Serving;

/// <summary>What a slot save or restore moved: tokens and the bytes of the file.</summary>
public sealed record SlotTransfer(int Tokens, long Bytes);

/// <summary>A slot file that cannot be restored: damaged, or saved for another model or KV layout.</summary>
public sealed class SlotFileException(string message, Exception? inner = null) : Exception(message, inner);

// llama-server's slot save, restore and erase (POST /slots/{id}?action=...). A slot's cache is the tokens the last
// request run in it (or naming it with GenerationRequest.Slot) left in the KV cache; their full blocks are prefix-cache
// entries, so saving copies those entries out as block records (the disk tier's format), restoring makes the records
// entries again (any later prompt with that prefix resumes from them, in whatever slot it runs), and erasing drops
// them. The prefix cache belongs to the loop, so the work on it runs there, between two steps; files are read and
// written off the loop.
public sealed partial class InferenceEngine
{
    private readonly ConcurrentQueue<(Action Run, Action Cancel)> _loopWork = new();
    private byte[]? _layout;

    /// <summary>Tokens of each slot's cache: the prompt and generated tokens whose keys and values its last request
    /// computed (null: none).</summary>
    private readonly int[]?[] _slotTokens;

    /// <summary>The layout block records of this engine carry (model identity, KV types and shapes).</summary>
    private byte[] Layout => _layout ??= BlockRecord.Layout(BlockRecord.ModelIdentity(Model.File), _kv);

    /// <summary>Writes the full blocks of slot <paramref name="slot"/>'s cache to <paramref name="output"/> as block
    /// records; 0 tokens when the slot has none.</summary>
    public async Task<SlotTransfer> SaveSlotAsync(int slot, Stream output, CancellationToken cancellation = default)
    {
        CheckSlot(slot);
        var records = await OnLoopAsync(() => ExportSlot(slot)).WaitAsync(cancellation);
        long start = output.CanSeek ? output.Position : 0;
        int tokens = 0;
        try
        {
            foreach (var (header, body) in records)
            {
                BlockRecord.Write(output, Layout, header, body.AsSpan(0, (int)header.BodyBytes));
                tokens += header.Tokens.Length;
            }

            await output.FlushAsync(cancellation);
        }
        finally
        {
            foreach (var (_, body) in records)
                DiskCache.ReturnBody(body);
        }

        return new SlotTransfer(tokens, output.CanSeek ? output.Position - start : 0);
    }

    /// <summary>Reads block records from <paramref name="input"/> into the prefix cache and makes their tokens slot
    /// <paramref name="slot"/>'s cache.</summary>
    /// <exception cref="SlotFileException">The file is damaged, or was saved for another model or KV layout.</exception>
    public async Task<SlotTransfer> RestoreSlotAsync(int slot, Stream input, CancellationToken cancellation = default)
    {
        CheckSlot(slot);
        var records = ReadRecords(input);
        try
        {
            int tokens = await OnLoopAsync(() => ImportSlot(slot, records)).WaitAsync(cancellation);
            return new SlotTransfer(tokens, input.CanSeek ? input.Position : 0);
        }
        finally
        {
            foreach (var (_, body) in records)
                DiskCache.ReturnBody(body);
        }
    }

    /// <summary>Forgets slot <paramref name="slot"/>'s cache and drops its blocks from the prefix cache (those no
    /// running request holds); returns how many tokens it had.</summary>
    public Task<int> EraseSlotAsync(int slot, CancellationToken cancellation = default)
    {
        CheckSlot(slot);
        return OnLoopAsync(() =>
        {
            int[] tokens = _slotTokens[slot] ?? [];
            _slotTokens[slot] = null;
            ForEachSlotBlock(tokens, block => _prefixCache!.Drop(block.Hash));
            return tokens.Length;
        }).WaitAsync(cancellation);
    }

    private void CheckSlot(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, Options.Parallel);
        if (_prefixCache is null)
            throw new InvalidOperationException("slots are saved and restored through the prefix cache, which is off");
    }

    /// <summary>Remembers the tokens a sequence leaves in the KV cache as its slot's cache (on the loop, as it ends).</summary>
    private void RememberSlot(Sequence s)
    {
        int slot = s.Request.Slot ?? s.Slot;
        if (slot >= 0 && slot < Options.Parallel && s.Request.Embedding is null && s.Kv is { Length: > 0 } kv)
            _slotTokens[slot] = [.. s.Tokens.Take(kv.Length)];
    }

    /// <summary>Visits the cached entries of the full blocks of <paramref name="tokens"/>, in order, as far as the
    /// cache (or the disk tier) has them; a visit may be the last use of a block read from disk. On the loop.</summary>
    private void ForEachSlotBlock(int[] tokens, Action<CachedBlock> visit)
    {
        var hashes = new List<ulong>();
        _prefixCache!.ExtendHashes(tokens, hashes);
        int bs = _kv.BlockTokens;
        for (int i = 0; i < hashes.Count; i++)
        {
            ulong parent = i == 0 ? PrefixCache.RootHash : hashes[i - 1];
            var span = tokens.AsSpan(i * bs, bs);
            if (_prefixCache.Lookup(hashes[i], parent, span) is not { } block)
            {
                if (_disk is null || ReadFromDisk(hashes[i], parent, span, out _) is null || _prefixCache.Get(hashes[i]) is not { } read)
                    break;
                block = read;
            }

            visit(block);
        }
    }

    private List<(BlockHeader Header, byte[] Body)> ExportSlot(int slot)
    {
        var records = new List<(BlockHeader, byte[])>();
        ForEachSlotBlock(_slotTokens[slot] ?? [], block => records.Add(Export(block)));
        return records;
    }

    /// <summary>A cached block's record: its keys and values copied out (and its recurrent checkpoint, if it has one).</summary>
    private (BlockHeader Header, byte[] Body) Export(CachedBlock block)
    {
        bool checkpoint = block.Checkpoint >= 0;
        var held = block.Blocks.Select(b => b != KvCache.Hole).ToArray();
        long bytes = BlockRecord.BodyBytes(_kv, held, checkpoint);
        byte[] body = DiskCache.RentBody(bytes);
        int at = 0;
        for (int g = 0; g < held.Length; g++)
        {
            if (!held[g])
                continue;
            var cache = _kv.Groups[g].Cache;
            cache.ExportBlock(block.Blocks[g], body.AsSpan(at, (int)cache.BlockBytes));
            at += (int)cache.BlockBytes;
        }

        if (checkpoint)
            MemoryMarshal.AsBytes(_kv.Recurrent!.State(block.Checkpoint)).CopyTo(body.AsSpan(at));
        return (new BlockHeader(block.Hash, block.Parent, block.Tokens, held, checkpoint, bytes), body);
    }

    /// <summary>Every record of a slot file, checked: this engine's layout, each block's key, its parent the block
    /// before it, and its checksum. At most as many blocks as one sequence holds.</summary>
    private List<(BlockHeader Header, byte[] Body)> ReadRecords(Stream input)
    {
        var reader = new BlockRecord.Reader(input, Layout);
        var records = new List<(BlockHeader, byte[])>();
        int most = (ContextPerSequence + _kv.BlockTokens - 1) / _kv.BlockTokens;
        ulong parent = PrefixCache.RootHash;
        try
        {
            while (input.Position < input.Length)
            {
                if (records.Count == most)
                    throw new SlotFileException($"it holds more than the {most} blocks of {_kv.BlockTokens} tokens one sequence can hold");
                var header = reader.ReadHeader() ?? throw new SlotFileException("it was saved for another model, KV cache type or block size");
                if (header.Tokens.Length != _kv.BlockTokens || header.Groups.Length != _kv.Groups.Count || header.Parent != parent
                    || header.Hash != PrefixCache.Hash(parent, header.Tokens) || header.BodyBytes != BlockRecord.BodyBytes(_kv, header.Groups, header.Checkpoint)
                    || (header.Checkpoint && _kv.Recurrent is null) || header.Tokens.Any(t => (uint)t >= (uint)_vocab))
                    throw new SlotFileException($"block {records.Count} does not follow the one before it");
                byte[] body = DiskCache.RentBody(header.BodyBytes);
                records.Add((header, body));
                reader.ReadBody(body.AsSpan(0, (int)header.BodyBytes));
                parent = header.Hash;
            }
        }
        catch (Exception e) when (e is SlotFileException or InvalidDataException)
        {
            foreach (var (_, body) in records)
                DiskCache.ReturnBody(body);
            throw e as SlotFileException ?? new SlotFileException($"it is damaged: {e.Message}", e);
        }

        return records;
    }

    /// <summary>Makes the records prefix-cache entries (those not cached already), and the last checkpoint among them
    /// a checkpoint of the cache; the slot's cache is then their tokens. Stops early when the pool has no room.</summary>
    private int ImportSlot(int slot, List<(BlockHeader Header, byte[] Body)> records)
    {
        var tokens = new List<int>();
        (BlockHeader Header, byte[] Body)? checkpoint = null;
        foreach (var (header, body) in records)
        {
            if (_prefixCache!.Get(header.Hash) is { } cached)
                Pin(cached.Blocks);
            else if (!Adopt(header, body))
                break;
            tokens.AddRange(header.Tokens);
            if (header.Checkpoint)
                checkpoint = (header, body);
        }

        if (checkpoint is { } c && _prefixCache!.Get(c.Header.Hash) is { Checkpoint: < 0 })
            AdoptCheckpoint(c.Header.Hash, CheckpointOf(c.Header, c.Body));

        Unpin(); // the restored blocks were pinned, so making room for later ones never evicted them
        _slotTokens[slot] = tokens.Count > 0 ? [.. tokens] : null;
        return tokens.Count;
    }

    /// <summary>Fills free blocks (evicting unused cached ones if need be) with a record's keys and values and caches them.</summary>
    private bool Adopt(BlockHeader header, byte[] body)
    {
        if (!MakeRoomForOneBlock())
            return false;
        var blocks = ImportBlocks(header, body);
        if (_prefixCache!.Adopt(header.Hash, header.Parent, header.Tokens, blocks))
        {
            Pin(blocks);
            return true;
        }

        ReleaseBlocks(blocks);
        return false;
    }

    /// <summary>Runs <paramref name="work"/> on the loop before its next step (waking it if idle).</summary>
    private Task<T> OnLoopAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _loopWork.Enqueue((() =>
            {
                try
                {
                    done.SetResult(work());
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            }, () => done.SetException(new ObjectDisposedException(nameof(InferenceEngine)))));
        }

        _wake.Set();
        return done.Task;
    }

    /// <summary>On the loop: the work queued for it; at shutdown, each ends with <see cref="ObjectDisposedException"/>.</summary>
    private void RunLoopWork(bool stopping = false)
    {
        while (_loopWork.TryDequeue(out var work))
        {
            if (stopping)
                work.Cancel();
            else
                work.Run();
        }
    }
}
