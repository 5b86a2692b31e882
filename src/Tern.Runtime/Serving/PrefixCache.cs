using System.IO.Hashing;
using System.Runtime.InteropServices;
using Tern.Models;

namespace Tern.Runtime.Serving;

/// <summary>
/// Full KV blocks kept after their sequences end, found again by content (as vLLM's prefix caching): a block's key
/// is a hash of its tokens seeded with its parent block's key, so one key names a whole prefix and the longest
/// cached prefix of a prompt is found in one lookup per block. An entry is one block position: the block of every
/// KV group (full-attention and sliding-window layers) holding those tokens. The cache holds a reference to each
/// (<see cref="StateCache.Retain"/>); entries that no sequence uses any more are evicted least recently used first.
/// Keys are checked against the stored tokens and parent key, so a hash collision is a miss, never wrong keys and
/// values. For a model with recurrent layers, whose state cannot be cut back to a shorter prefix, an entry may also
/// hold a checkpoint: a copy of the recurrent state after its last token; a prompt resumes from the longest matched
/// prefix that ends in one. Checkpoints are few (slots of the state cache) and the least recently used goes first.
/// Not thread-safe: the engine's loop owns it.
/// </summary>
internal sealed class PrefixCache
{
    /// <summary>The parent key of a sequence's first block.</summary>
    public const ulong RootHash = 0x7465726E_70726566; // "ternpref"

    private readonly StateCache _kv;
    private readonly Dictionary<ulong, Entry> _byHash = [];
    private readonly Entry?[] _byBlock;
    private readonly LinkedList<Entry> _lru = []; // least recently used first

    public PrefixCache(StateCache kv)
    {
        _kv = kv;
        _byBlock = new Entry?[kv.BlockCount];
    }

    public int BlockTokens => _kv.BlockTokens;

    /// <summary>Blocks the cache holds (some may also be in use by sequences).</summary>
    public int Count => _byHash.Count;

    public long Evictions { get; private set; }

    /// <summary>The key of a block of <see cref="BlockTokens"/> tokens after the block keyed <paramref name="parent"/>.</summary>
    public static ulong Hash(ulong parent, ReadOnlySpan<int> tokens) =>
        XxHash3.HashToUInt64(MemoryMarshal.AsBytes(tokens), unchecked((long)parent));

    /// <summary>Appends the keys of the full blocks of <paramref name="tokens"/> past the <paramref name="hashes"/> already known.</summary>
    public void ExtendHashes(ReadOnlySpan<int> tokens, List<ulong> hashes)
    {
        int bs = BlockTokens;
        for (int i = hashes.Count; (i + 1) * bs <= tokens.Length; i++)
            hashes.Add(Hash(i == 0 ? RootHash : hashes[i - 1], tokens.Slice(i * bs, bs)));
    }

    /// <summary>
    /// The cached blocks (one per KV group each) of the longest prefix of <paramref name="tokens"/> made of whole
    /// blocks, given the keys of its full blocks; marks them used.
    /// </summary>
    public void Match(ReadOnlySpan<int> tokens, IReadOnlyList<ulong> hashes, List<int[]> blocks, List<int>? checkpoints = null)
    {
        int bs = BlockTokens;
        for (int i = 0; i < hashes.Count; i++)
        {
            if (Find(hashes[i], i == 0 ? RootHash : hashes[i - 1], tokens.Slice(i * bs, bs)) is not { } entry)
                break;
            blocks.Add(entry.Blocks);
            if (checkpoints is not null)
                checkpoints.Add(entry.Checkpoint);
        }

        for (int i = blocks.Count - 1; i >= 0; i--)
            Touch(_byBlock[blocks[i][0]]!);
    }

    private Entry? Find(ulong hash, ulong parent, ReadOnlySpan<int> tokens) =>
        _byHash.TryGetValue(hash, out var entry) && entry.Parent == parent && entry.Tokens.AsSpan().SequenceEqual(tokens) ? entry : null;

    /// <summary>The entry cached for <paramref name="tokens"/> after the block keyed <paramref name="parent"/>, or
    /// null; marks it used.</summary>
    public CachedBlock? Lookup(ulong hash, ulong parent, ReadOnlySpan<int> tokens)
    {
        if (Find(hash, parent, tokens) is not { } entry)
            return null;
        Touch(entry);
        return entry.View;
    }

    /// <summary>The entry of the block <paramref name="hash"/> names, or null.</summary>
    public CachedBlock? Get(ulong hash) => _byHash.TryGetValue(hash, out var entry) ? entry.View : null;

    /// <summary>
    /// Keeps blocks the caller filled (from disk) under their key; the cache takes over the caller's holds on them.
    /// False, and the holds stay the caller's, when the key is cached already.
    /// </summary>
    public bool Adopt(ulong hash, ulong parent, ReadOnlySpan<int> tokens, int[] blocks)
    {
        if (blocks[0] == KvCache.Hole || _byHash.ContainsKey(hash) || _byBlock[blocks[0]] is not null)
            return false;
        Add(new Entry(hash, parent, tokens.ToArray(), blocks));
        return true;
    }

    private void Add(Entry entry)
    {
        entry.Node = _lru.AddLast(entry);
        _byHash.Add(entry.Hash, entry);
        _byBlock[entry.Blocks[0]] = entry;
    }

    /// <summary>Told of each entry about to be evicted, while its blocks still hold their keys and values (the disk tier).</summary>
    public Action<CachedBlock>? Evicting { get; set; }

    /// <summary>Every entry, least recently used first.</summary>
    public IEnumerable<CachedBlock> Entries() => _lru.Select(e => e.View);

    /// <summary>
    /// Keeps full block <paramref name="index"/> of a sequence (its block in every KV group) under its key, unless a
    /// block with the same key is kept already (an equal prefix computed by another sequence). A sliding-window
    /// group's block the sequence has let go of is kept as a hole. Returns the new entry, or null.
    /// </summary>
    public CachedBlock? Register(SequenceState sequence, int index, ulong hash, ulong parent, ReadOnlySpan<int> tokens)
    {
        int[] blocks = [.. sequence.Kv.Select(kv => kv.Blocks[index])];
        if (blocks[0] == KvCache.Hole || _byHash.ContainsKey(hash) || _byBlock[blocks[0]] is not null)
            return null;
        var entry = new Entry(hash, parent, tokens.ToArray(), blocks);
        Add(entry);
        for (int g = 0; g < blocks.Length; g++)
        {
            if (blocks[g] != KvCache.Hole)
                _kv.Retain(g, blocks[g]);
        }

        return entry.View;
    }

    /// <summary>
    /// Marks the cached ones among a sequence's blocks used, its first block the most recent: when they are
    /// evicted later, a prefix loses its tail before its head (which more prompts share).
    /// </summary>
    public void Touch(IReadOnlyList<int> blocks)
    {
        for (int i = blocks.Count - 1; i >= 0; i--)
        {
            if (blocks[i] != KvCache.Hole && _byBlock[blocks[i]] is { } entry)
                Touch(entry);
        }
    }

    private void Touch(Entry entry)
    {
        _lru.Remove(entry.Node!);
        _lru.AddLast(entry.Node!);
    }

    /// <summary>Drops up to <paramref name="blocks"/> cached blocks that no sequence holds, least recently used first;
    /// returns how many went back to the pool.</summary>
    public int Evict(int blocks)
    {
        int freed = 0;
        for (var node = _lru.First; node is not null && freed < blocks;)
        {
            var next = node.Next;
            var entry = node.Value;
            if (CachedOnly(entry))
            {
                Evicting?.Invoke(entry.View);
                Remove(entry);
                freed++;
            }

            node = next;
        }

        Evictions += freed;
        return freed;
    }

    /// <summary>Drops the entry of the block <paramref name="hash"/> names, unless a sequence holds one of its blocks
    /// (llama-server's slot erase); false when it is not cached or in use.</summary>
    public bool Drop(ulong hash)
    {
        if (!_byHash.TryGetValue(hash, out var entry) || !CachedOnly(entry))
            return false;
        Remove(entry);
        return true;
    }

    private void Remove(Entry entry)
    {
        _lru.Remove(entry.Node!);
        _byHash.Remove(entry.Hash);
        _byBlock[entry.Blocks[0]] = null;
        DropCheckpoint(entry);
        for (int g = 0; g < entry.Blocks.Length; g++)
        {
            if (entry.Blocks[g] != KvCache.Hole)
                _kv.Release(g, entry.Blocks[g]);
        }
    }

    /// <summary>Cached blocks that no sequence holds.</summary>
    public int CountCachedOnly()
    {
        int n = 0;
        foreach (var entry in _lru)
        {
            if (CachedOnly(entry))
                n++;
        }

        return n;
    }

    /// <summary>
    /// Keeps a recurrent-state checkpoint (a slot the cache now owns) with the entry of the full block
    /// <paramref name="hash"/> names: the state after that block's last token. False, and the slot is the caller's
    /// still, when the block is not cached or already has one.
    /// </summary>
    public bool AddCheckpoint(ulong hash, int slot)
    {
        if (!_byHash.TryGetValue(hash, out var entry) || entry.Checkpoint >= 0)
            return false;
        entry.Checkpoint = slot;
        Checkpoints++;
        return true;
    }

    /// <summary>Drops the checkpoint of the block <paramref name="hash"/> names, if it has one.</summary>
    public void DropCheckpoint(ulong hash)
    {
        if (_byHash.TryGetValue(hash, out var entry))
            DropCheckpoint(entry);
    }

    /// <summary>Frees the least recently used checkpoint; false when there is none.</summary>
    public bool EvictCheckpoint()
    {
        for (var node = _lru.First; node is not null; node = node.Next)
        {
            if (node.Value.Checkpoint >= 0)
            {
                DropCheckpoint(node.Value);
                return true;
            }
        }

        return false;
    }

    /// <summary>Checkpoints the cache holds.</summary>
    public int Checkpoints { get; private set; }

    private void DropCheckpoint(Entry entry)
    {
        if (entry.Checkpoint < 0)
            return;
        _kv.ReleaseCheckpoint(entry.Checkpoint);
        entry.Checkpoint = -1;
        Checkpoints--;
    }

    /// <summary>Whether no sequence holds any of the entry's blocks.</summary>
    private bool CachedOnly(Entry entry)
    {
        for (int g = 0; g < entry.Blocks.Length; g++)
        {
            if (entry.Blocks[g] != KvCache.Hole && _kv.ReferenceCount(g, entry.Blocks[g]) != 1)
                return false;
        }

        return true;
    }

    /// <summary>Whether <paramref name="block"/> (of the first KV group) is kept by the cache.</summary>
    public bool Contains(int block) => _byBlock[block] is not null;

    private sealed class Entry(ulong hash, ulong parent, int[] tokens, int[] blocks)
    {
        public ulong Hash { get; } = hash;
        public ulong Parent { get; } = parent;
        public int[] Tokens { get; } = tokens;

        /// <summary>The block of each KV group.</summary>
        public int[] Blocks { get; } = blocks;

        public CachedBlock View => new(Hash, Parent, Tokens, Blocks, Checkpoint);

        /// <summary>Recurrent-state slot holding the state after this block, or −1.</summary>
        public int Checkpoint { get; set; } = -1;
        public LinkedListNode<Entry>? Node { get; set; }
    }
}

/// <summary>A prefix-cache entry: a block's key, its parent's, its tokens, its block in each KV group (or a hole) and
/// its recurrent checkpoint's slot (or −1).</summary>
internal readonly record struct CachedBlock(ulong Hash, ulong Parent, int[] Tokens, int[] Blocks, int Checkpoint);
