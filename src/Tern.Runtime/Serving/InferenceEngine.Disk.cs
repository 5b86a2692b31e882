using System.Runtime.InteropServices;
using Tern.Models;

namespace Tern.Runtime.Serving;

// The disk tier of the prefix cache (EngineOptions.DiskCache): blocks copied out to the writer's queue as they are
// cached (and again when they leave RAM, if the queue was full), read back in at admission where RAM's match stops.
public sealed partial class InferenceEngine
{
    private readonly DiskCache? _disk;
    private readonly List<int[]> _pinned = [];
    private long _diskHitTokens;

    private DiskCache? OpenDiskCache()
    {
        if (Options.DiskCache is not { } options || _prefixCache is null)
            return null;
        var disk = new DiskCache(options, BlockRecord.ModelIdentity(Model.File), _kv);
        _prefixCache.Evicting = block => WriteToDisk(block, wait: false);
        return disk;
    }

    /// <summary>The disk tier's folder for this model (null without one).</summary>
    internal string? DiskCacheFolder => _disk?.Folder;

    /// <summary>Copies a cached block's bytes (and its recurrent checkpoint, if it has one) into the writer's queue,
    /// unless it is on disk (as complete) or on its way already.</summary>
    private void WriteToDisk(CachedBlock block, bool wait)
    {
        bool checkpoint = block.Checkpoint >= 0;
        if (_disk is not { Enabled: true } disk || disk.Knows(block.Hash, checkpoint))
            return;
        var (header, body) = Export(block);
        disk.Enqueue(header, body, wait);
    }

    /// <summary>
    /// Continues the prefix match past RAM's: each next block is taken from RAM or read from disk into free blocks
    /// (evicting unused cached ones if needed) and cached, until one is in neither. The matched blocks are pinned
    /// (<see cref="Unpin"/> after the sequence holds them), so making room never evicts them. For a model with
    /// recurrent layers, the last checkpoint read from disk that the prompt can resume from becomes a checkpoint of
    /// the prefix cache, unless RAM has a later one.
    /// </summary>
    private void MatchOnDisk(Sequence s)
    {
        foreach (var blocks in _matched)
            Pin(blocks);
        int bs = _kv.BlockTokens;
        (int Index, float[]? State) best = (-1, null);
        for (int i = _matched.Count; i < s.BlockHashes.Count && _disk!.Enabled; i++)
        {
            ulong hash = s.BlockHashes[i], parent = i == 0 ? PrefixCache.RootHash : s.BlockHashes[i - 1];
            var tokens = s.Prompt.AsSpan(i * bs, bs);
            int[]? blocks;
            int checkpoint = -1;
            if (_prefixCache!.Lookup(hash, parent, tokens) is { } cached)
            {
                (blocks, checkpoint) = (cached.Blocks, cached.Checkpoint);
            }
            else
            {
                blocks = ReadFromDisk(hash, parent, tokens, out float[]? state);
                if (state is not null && (i + 1) * bs < s.Prompt.Length)
                    best = (i, state);
            }

            if (blocks is null)
                break;
            Pin(blocks);
            _matched.Add(blocks);
            _checkpoints.Add(checkpoint);
        }

        if (best.State is not null)
            RestoreCheckpoint(s, best.Index, best.State);
    }

    /// <summary>Makes a recurrent state read from disk the checkpoint of matched block <paramref name="index"/>,
    /// unless a later matched block the prompt can resume from has one in RAM.</summary>
    private void RestoreCheckpoint(Sequence s, int index, float[] state)
    {
        int bs = _kv.BlockTokens;
        for (int j = index + 1; j < _matched.Count && (j + 1) * bs < s.Prompt.Length; j++)
        {
            if (_checkpoints[j] >= 0)
                return;
        }

        if (!AdoptCheckpoint(s.BlockHashes[index], state))
            return;

        // An eviction may have taken a matched block's checkpoint: look them up again.
        for (int j = 0; j < _matched.Count; j++)
            _checkpoints[j] = _prefixCache!.Get(s.BlockHashes[j])?.Checkpoint ?? -1;
    }

    /// <summary>Makes a copy of <paramref name="state"/> the checkpoint of the cached block <paramref name="hash"/>
    /// names (the least recently used checkpoint goes if the cache has its fill); false when none could be kept.</summary>
    private bool AdoptCheckpoint(ulong hash, ReadOnlySpan<float> state)
    {
        if (Options.RecurrentCheckpoints == 0)
            return false;
        if (_prefixCache!.Checkpoints >= Options.RecurrentCheckpoints)
            _prefixCache.EvictCheckpoint();
        if (_kv.Recurrent!.FreeSlots == 0)
            return false;
        int slot = _kv.Recurrent.Rent();
        state.CopyTo(_kv.Recurrent.State(slot));
        if (_prefixCache.AddCheckpoint(hash, slot))
            return true;
        _kv.ReleaseCheckpoint(slot);
        return false;
    }

    /// <summary>The block read from disk into blocks of the pool that the prefix cache now holds, and its recurrent
    /// checkpoint if the file has one; null on a miss.</summary>
    private int[]? ReadFromDisk(ulong hash, ulong parent, ReadOnlySpan<int> tokens, out float[]? state)
    {
        state = null;
        if (!_disk!.Contains(hash))
            return null;
        if (!MakeRoomForOneBlock() || !_disk.TryRead(hash, parent, tokens, out var header, out byte[] body))
            return null;
        var blocks = ImportBlocks(header, body);
        if (header.Checkpoint)
            state = CheckpointOf(header, body).ToArray();
        DiskCache.ReturnBody(body);
        if (!_prefixCache!.Adopt(hash, parent, tokens, blocks))
        {
            ReleaseBlocks(blocks);
            state = null;
            return null;
        }

        _diskHitTokens += tokens.Length;
        return blocks;
    }

    /// <summary>Evicts unused cached blocks until every KV group has a free one; false when none can go.</summary>
    private bool MakeRoomForOneBlock()
    {
        while (_kv.FreeBlockCount == 0)
        {
            if (_prefixCache!.Evict(1) == 0)
                return false;
        }

        return true;
    }

    /// <summary>Rents a block in each KV group that holds the record's block and fills it from the record's body.</summary>
    private int[] ImportBlocks(BlockHeader header, byte[] body)
    {
        var blocks = new int[header.Groups.Length];
        int at = 0;
        for (int g = 0; g < blocks.Length; g++)
        {
            blocks[g] = KvCache.Hole;
            if (!header.Groups[g])
                continue;
            var cache = _kv.Groups[g].Cache;
            blocks[g] = cache.Rent();
            cache.ImportBlock(blocks[g], body.AsSpan(at, (int)cache.BlockBytes));
            at += (int)cache.BlockBytes;
        }

        return blocks;
    }

    /// <summary>The recurrent state at the end of a record's body (the record has a checkpoint).</summary>
    private ReadOnlySpan<float> CheckpointOf(BlockHeader header, byte[] body) =>
        MemoryMarshal.Cast<byte, float>(body.AsSpan((int)(header.BodyBytes - _kv.Recurrent!.SlotBytes), (int)_kv.Recurrent.SlotBytes));

    private void Pin(int[] blocks)
    {
        for (int g = 0; g < blocks.Length; g++)
        {
            if (blocks[g] != KvCache.Hole)
                _kv.Retain(g, blocks[g]);
        }

        _pinned.Add(blocks);
    }

    private void Unpin()
    {
        foreach (var blocks in _pinned)
            ReleaseBlocks(blocks);
        _pinned.Clear();
    }

    private void ReleaseBlocks(int[] blocks)
    {
        for (int g = 0; g < blocks.Length; g++)
        {
            if (blocks[g] != KvCache.Hole)
                _kv.Release(g, blocks[g]);
        }
    }

    /// <summary>At dispose, after the loop: every cached block not on disk yet is queued (waiting for room), then the
    /// writer finishes the queue, so a graceful shutdown loses nothing.</summary>
    private void FlushDiskCache()
    {
        if (_disk is null)
            return;
        foreach (var block in _prefixCache!.Entries())
            WriteToDisk(block, wait: true);
        _disk.Dispose();
    }
}
