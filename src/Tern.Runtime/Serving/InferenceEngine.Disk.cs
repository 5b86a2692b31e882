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
        if (_kv.Recurrent is not null)
        {
            // A restart would need the recurrent checkpoints too; until they are written, the tier stays off.
            options.Warn?.Invoke($"disk prefix cache: off for {Model.Config.Architecture}: its recurrent layers' state is not written to disk");
            return null;
        }

        var disk = new DiskCache(options, BlockRecord.ModelIdentity(Model.File), _kv);
        _prefixCache.Evicting = block => WriteToDisk(block, wait: false);
        return disk;
    }

    /// <summary>The disk tier's folder for this model (null without one).</summary>
    internal string? DiskCacheFolder => _disk?.Folder;

    /// <summary>Copies a cached block's bytes into the writer's queue, unless it is on disk or on its way already.</summary>
    private void WriteToDisk(CachedBlock block, bool wait)
    {
        if (_disk is not { Enabled: true } disk || disk.Knows(block.Hash))
            return;
        var held = block.Blocks.Select(b => b != KvCache.Hole).ToArray();
        long bytes = BlockRecord.BodyBytes(_kv, held);
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

        disk.Enqueue(new BlockHeader(block.Hash, block.Parent, block.Tokens, held, bytes), body, wait);
    }

    /// <summary>
    /// Continues the prefix match past RAM's: each next block is taken from RAM or read from disk into free blocks
    /// (evicting unused cached ones if needed) and cached, until one is in neither. The matched blocks are pinned
    /// (<see cref="Unpin"/> after the sequence holds them), so making room never evicts them.
    /// </summary>
    private void MatchOnDisk(Sequence s)
    {
        foreach (var blocks in _matched)
            Pin(blocks);
        int bs = _kv.BlockTokens;
        for (int i = _matched.Count; i < s.BlockHashes.Count && _disk!.Enabled; i++)
        {
            ulong hash = s.BlockHashes[i], parent = i == 0 ? PrefixCache.RootHash : s.BlockHashes[i - 1];
            var tokens = s.Prompt.AsSpan(i * bs, bs);
            var blocks = _prefixCache!.Lookup(hash, parent, tokens) ?? ReadFromDisk(hash, parent, tokens);
            if (blocks is null)
                break;
            Pin(blocks);
            _matched.Add(blocks);
            _checkpoints.Add(-1);
        }
    }

    /// <summary>The block read from disk into blocks of the pool that the prefix cache now holds; null on a miss.</summary>
    private int[]? ReadFromDisk(ulong hash, ulong parent, ReadOnlySpan<int> tokens)
    {
        if (!_disk!.Contains(hash))
            return null;
        while (_kv.FreeBlockCount == 0)
        {
            if (_prefixCache!.Evict(1) == 0)
                return null;
        }

        if (!_disk.TryRead(hash, parent, tokens, out var header, out byte[] body))
            return null;
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

        DiskCache.ReturnBody(body);
        if (!_prefixCache!.Adopt(hash, parent, tokens, blocks))
        {
            ReleaseBlocks(blocks);
            return null;
        }

        _diskHitTokens += tokens.Length;
        return blocks;
    }

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
