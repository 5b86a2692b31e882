using System.Runtime.InteropServices;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>
/// Keys and values of every layer for many sequences, in a pool of fixed-size blocks (as vLLM's paged KV cache):
/// a sequence owns a list of blocks, grows a block at a time, and returns blocks to the pool when truncated or
/// freed. Blocks carry reference counts so several holders (sequences sharing a prefix, a prefix cache) can hold one.
/// Keys and values are stored as F16, Q8_0 or Q4_0 (each chosen on its own, as llama.cpp's -ctk/-ctv), in ggml's
/// block layouts. Memory is linear in the number of cached tokens; the pool is reserved up front (pages are
/// committed by the OS only when first written).
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly byte* _storage;
    private readonly int[] _refCounts;
    private readonly Stack<int> _freeBlocks;
    private readonly KvLayer[] _layers;
    private int _nextSequenceId;

    /// <summary>A cache whose layers all have the same shape.</summary>
    /// <param name="kvHeads">KV heads a row is split into: each head's rows of a block are stored together, so
    /// attention streams one head's keys and values from contiguous memory.</param>
    public KvCache(int layers, int kvDim, int capacityTokens, int blockTokens = 32, GgmlType keyType = GgmlType.F16,
        GgmlType valueType = GgmlType.F16, int kvHeads = 1)
        : this(Uniform(layers, kvDim, kvHeads), capacityTokens, blockTokens, keyType, valueType)
    {
    }

    /// <summary>A cache with one shape per layer (gemma4's sliding and global layers differ in KV heads and head size).</summary>
    public KvCache(IReadOnlyList<KvShape> layers, int capacityTokens, int blockTokens = 32, GgmlType keyType = GgmlType.F16,
        GgmlType valueType = GgmlType.F16)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentOutOfRangeException.ThrowIfZero(layers.Count, nameof(layers));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockTokens);
        foreach (var type in new[] { keyType, valueType })
        {
            if (!KvRows.IsSupported(type))
                throw new ArgumentException($"KV cache type {type} is not supported: use {TypeNames}");
        }

        BlockTokens = blockTokens;
        KeyType = keyType;
        ValueType = valueType;
        BlockCount = (capacityTokens + blockTokens - 1) / blockTokens;
        _layers = new KvLayer[layers.Count];
        long offset = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            var shape = layers[i];
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shape.KvHeads, nameof(layers));
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shape.HeadDim, nameof(layers));
            foreach (var type in new[] { keyType, valueType })
            {
                if (shape.HeadDim % QuantTypes.Get(type).BlockSize != 0)
                    throw new ArgumentException($"KV cache type {Name(type)} stores blocks of {QuantTypes.Get(type).BlockSize}: it needs a head size that is a multiple of {QuantTypes.Get(type).BlockSize}; this model's head size is {shape.HeadDim}");
            }

            // One region per (layer, keys or values, head), holding that head's rows block after block: a sequence's
            // blocks, mostly allocated in order, read as one stream per head that the hardware prefetcher follows.
            var layer = new KvLayer(shape, KvRows.RowBytes(keyType, shape.HeadDim), KvRows.RowBytes(valueType, shape.HeadDim), offset, BlockCount, blockTokens);
            _layers[i] = layer;
            offset += layer.Bytes;
        }

        ReservedBytes = offset;
        _storage = (byte*)NativeMemory.AlignedAlloc((nuint)offset, 64);
        _refCounts = new int[BlockCount];
        _freeBlocks = new Stack<int>(Enumerable.Range(0, BlockCount).Reverse());
    }

    private static KvShape[] Uniform(int layers, int kvDim, int kvHeads)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        if (kvDim % kvHeads != 0)
            throw new ArgumentException($"a row of {kvDim} does not split into {kvHeads} heads", nameof(kvHeads));
        return Enumerable.Repeat(new KvShape(kvHeads, kvDim / kvHeads), layers).ToArray();
    }

    /// <summary>The names -ctk/-ctv take.</summary>
    public const string TypeNames = "f16, q8_0, q4_0";

    /// <summary>A KV cache type from its llama.cpp name (f16, q8_0, q4_0; any case).</summary>
    public static GgmlType ParseType(string name) => name.ToLowerInvariant() switch
    {
        "f16" => GgmlType.F16,
        "q8_0" => GgmlType.Q8_0,
        "q4_0" => GgmlType.Q4_0,
        _ => throw new ArgumentException($"unknown KV cache type '{name}': use {TypeNames}"),
    };

    /// <summary>llama.cpp's name of a KV cache type (f16, q8_0, q4_0).</summary>
    public static string Name(GgmlType type) => type.ToString().ToLowerInvariant();

    public int Layers => _layers.Length;
    public int BlockTokens { get; }
    public int BlockCount { get; }
    public GgmlType KeyType { get; }
    public GgmlType ValueType { get; }
    public int FreeBlockCount => _freeBlocks.Count;

    /// <summary>The entry of a block list for a block released by <see cref="ReleaseBefore"/>.</summary>
    public const int Hole = -1;
    public int CapacityTokens => BlockCount * BlockTokens;

    /// <summary>The row sizes of one layer.</summary>
    public KvLayer Layer(int layer) => _layers[layer];

    /// <summary>Bytes one cached token takes over all layers, keys and values.</summary>
    public long BytesPerToken => _layers.Sum(l => (long)l.KeyRowBytes + l.ValueRowBytes);

    /// <summary>Bytes reserved for the whole pool.</summary>
    public long ReservedBytes { get; }

    public KvSequence CreateSequence() => new(_nextSequenceId++);

    /// <summary>Makes room for <paramref name="tokens"/> positions in the sequence, taking blocks from the pool.</summary>
    /// <exception cref="KvCacheFullException">The pool has too few free blocks; the sequence is left as it was.</exception>
    public void EnsureCapacity(KvSequence sequence, int tokens)
    {
        int needed = (tokens + BlockTokens - 1) / BlockTokens - sequence.BlockList.Count;
        if (needed <= 0)
            return;
        if (needed > _freeBlocks.Count)
            throw new KvCacheFullException($"KV cache full: {tokens} positions need {needed} more blocks of {BlockTokens} tokens, {_freeBlocks.Count} free of {BlockCount}");
        for (int i = 0; i < needed; i++)
        {
            int block = _freeBlocks.Pop();
            _refCounts[block] = 1;
            sequence.BlockList.Add(block);
        }
    }

    /// <summary>
    /// A new sequence holding the first <paramref name="length"/> positions of <paramref name="source"/> without
    /// copying them: it shares the source's blocks (reference counted). A shared block is copied only when one of
    /// its holders writes into it (<see cref="PrepareWrite"/>), so a common prefix (a system prompt, earlier turns)
    /// is stored once.
    /// </summary>
    public KvSequence Fork(KvSequence source, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, source.Length);
        var fork = CreateSequence();
        int blocks = (length + BlockTokens - 1) / BlockTokens;
        for (int i = 0; i < blocks; i++)
        {
            int block = source.BlockList[i];
            if (block >= 0)
                _refCounts[block]++;
            fork.BlockList.Add(block);
        }

        fork.Length = length;
        fork.ReleasedBlocks = Math.Min(source.ReleasedBlocks, blocks);
        return fork;
    }

    /// <summary>
    /// A new sequence whose positions [0, <paramref name="length"/>) are already in <paramref name="blocks"/>
    /// (for example blocks a prefix cache kept): it shares them, one holder more each, exactly as a fork does.
    /// </summary>
    public KvSequence CreateSequence(ReadOnlySpan<int> blocks, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (blocks.Length != (length + BlockTokens - 1) / BlockTokens)
            throw new ArgumentException($"{length} positions take {(length + BlockTokens - 1) / BlockTokens} blocks of {BlockTokens} tokens, not {blocks.Length}", nameof(blocks));
        foreach (int block in blocks)
        {
            if (block != Hole)
                CheckHeld(block);
        }

        var sequence = CreateSequence();
        foreach (int block in blocks)
        {
            if (block != Hole)
                _refCounts[block]++;
            sequence.BlockList.Add(block);
        }

        sequence.Length = length;
        while (sequence.ReleasedBlocks < blocks.Length && blocks[sequence.ReleasedBlocks] == Hole)
            sequence.ReleasedBlocks++;
        return sequence;
    }

    /// <summary>A free block with one holder, the caller (a prefix cache filling it from disk).</summary>
    /// <exception cref="KvCacheFullException">No block is free.</exception>
    public int Rent()
    {
        if (_freeBlocks.Count == 0)
            throw new KvCacheFullException($"KV cache full: all {BlockCount} blocks of {BlockTokens} tokens are in use");
        int block = _freeBlocks.Pop();
        _refCounts[block] = 1;
        return block;
    }

    /// <summary>Bytes of one block over all layers, keys and values: what <see cref="ExportBlock"/> writes.</summary>
    public long BlockBytes => BytesPerToken * BlockTokens;

    /// <summary>Copies a block's keys and values out: per layer, each head's key rows, then each head's value rows.</summary>
    public void ExportBlock(int block, Span<byte> destination) => CopyBytes(block, destination, export: true);

    /// <summary>Fills a block with what <see cref="ExportBlock"/> wrote.</summary>
    public void ImportBlock(int block, ReadOnlySpan<byte> source) =>
        CopyBytes(block, MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(source), source.Length), export: false);

    private void CopyBytes(int block, Span<byte> bytes, bool export)
    {
        CheckHeld(block);
        if (bytes.Length != BlockBytes)
            throw new ArgumentException($"a block is {BlockBytes} bytes, not {bytes.Length}", nameof(bytes));
        int at = 0;
        for (int layer = 0; layer < Layers; layer++)
        {
            var l = _layers[layer];
            foreach (bool value in (ReadOnlySpan<bool>)[false, true])
            {
                int rows = BlockTokens * (value ? l.ValueHeadBytes : l.KeyHeadBytes);
                for (int head = 0; head < l.Shape.KvHeads; head++)
                {
                    var stored = new Span<byte>(HeadRows(block, layer, value, head), rows);
                    if (export)
                        stored.CopyTo(bytes.Slice(at, rows));
                    else
                        bytes.Slice(at, rows).CopyTo(stored);
                    at += rows;
                }
            }
        }
    }

    /// <summary>Adds a holder that is not a sequence (a prefix cache) to a block in use, so it outlives its sequences.</summary>
    public void Retain(int block)
    {
        CheckHeld(block);
        _refCounts[block]++;
    }

    /// <summary>Drops one holder of a block; the last one returns it to the pool.</summary>
    public void Release(int block)
    {
        CheckHeld(block);
        if (--_refCounts[block] == 0)
            _freeBlocks.Push(block);
    }

    /// <summary>
    /// How many free blocks <see cref="PrepareWrite"/> would take for positions [<paramref name="start"/>,
    /// <paramref name="end"/>): missing blocks plus copies of shared ones.
    /// </summary>
    public int BlocksToWrite(KvSequence sequence, int start, int end)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(end, start);
        int endBlock = (end + BlockTokens - 1) / BlockTokens;
        int existing = Math.Min(sequence.BlockList.Count, endBlock);
        int copies = 0;
        for (int i = start / BlockTokens; i < existing; i++)
        {
            int block = sequence.BlockList[i];
            if (block == Hole)
                throw new InvalidOperationException($"KV block {i} of sequence {sequence.Id} was released (it left the sliding window): positions from {start} cannot be rewritten");
            if (_refCounts[block] > 1)
                copies++;
        }

        return copies + Math.Max(0, endBlock - sequence.BlockList.Count);
    }

    /// <summary>
    /// Makes positions [<paramref name="start"/>, <paramref name="end"/>) writable for this sequence: allocates
    /// missing blocks and gives it its own copy of any block in that range it shares with another sequence.
    /// </summary>
    /// <exception cref="KvCacheFullException">Not enough free blocks; the sequence keeps what it had.</exception>
    public void PrepareWrite(KvSequence sequence, int start, int end)
    {
        int needed = BlocksToWrite(sequence, start, end);
        if (needed > _freeBlocks.Count)
            throw new KvCacheFullException($"KV cache full: positions up to {end} need {needed} more blocks of {BlockTokens} tokens, {_freeBlocks.Count} free of {BlockCount}");
        int existing = Math.Min(sequence.BlockList.Count, (end + BlockTokens - 1) / BlockTokens);
        for (int i = start / BlockTokens; i < existing; i++)
        {
            int shared = sequence.BlockList[i];
            if (_refCounts[shared] == 1)
                continue;
            int own = _freeBlocks.Pop();
            _refCounts[own] = 1;
            CopyBlock(shared, own);
            _refCounts[shared]--;
            sequence.BlockList[i] = own;
        }

        EnsureCapacity(sequence, end);
    }

    /// <summary>How many holders the block has (1 = owned by one sequence, 0 = free).</summary>
    public int ReferenceCount(int block) => _refCounts[block];

    /// <summary>Keeps the first <paramref name="length"/> positions and returns whole blocks past them to the pool.</summary>
    public void Truncate(KvSequence sequence, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int keep = (length + BlockTokens - 1) / BlockTokens;
        for (int i = sequence.BlockList.Count - 1; i >= keep; i--)
        {
            if (sequence.BlockList[i] != Hole)
                Release(sequence.BlockList[i]);
            sequence.BlockList.RemoveAt(i);
        }

        sequence.Length = Math.Min(sequence.Length, length);
        sequence.ReleasedBlocks = Math.Min(sequence.ReleasedBlocks, keep);
    }

    /// <summary>
    /// Lets go of the sequence's blocks that hold only positions before <paramref name="position"/> (a sliding-window
    /// layer's keys no query will see again): each becomes a hole in its block list and returns to the pool unless
    /// another holder (a prefix cache) keeps it.
    /// </summary>
    public void ReleaseBefore(KvSequence sequence, int position)
    {
        int blocks = Math.Min(sequence.BlockList.Count, position / BlockTokens);
        for (int i = sequence.ReleasedBlocks; i < blocks; i++)
        {
            if (sequence.BlockList[i] != Hole)
                Release(sequence.BlockList[i]);
            sequence.BlockList[i] = Hole;
        }

        sequence.ReleasedBlocks = Math.Max(sequence.ReleasedBlocks, blocks);
    }

    /// <summary>Returns all of the sequence's blocks to the pool.</summary>
    public void Free(KvSequence sequence) => Truncate(sequence, 0);

    private void CheckHeld(int block)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(block);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(block, BlockCount);
        if (_refCounts[block] == 0)
            throw new InvalidOperationException($"KV block {block} is free: only a block in use can gain or lose a holder");
    }

    /// <summary>One KV head's slice of the key (or value) row of one position.</summary>
    internal Span<byte> HeadRow(KvSequence sequence, int layer, bool value, int position, int head)
    {
        int block = sequence.BlockList[position / BlockTokens];
        var l = _layers[layer];
        int bytes = value ? l.ValueHeadBytes : l.KeyHeadBytes;
        return new Span<byte>(HeadRows(block, layer, value, head) + (long)(position % BlockTokens) * bytes, bytes);
    }

    /// <summary>First key (or value) row of one KV head in a block for one layer; the head's rows follow back to back.</summary>
    internal byte* HeadRows(int block, int layer, bool value, int head) => _storage + _layers[layer].Offset(block, value, head);

    private void CopyBlock(int from, int to)
    {
        for (int layer = 0; layer < Layers; layer++)
        {
            var l = _layers[layer];
            for (int head = 0; head < l.Shape.KvHeads; head++)
            {
                long keys = (long)BlockTokens * l.KeyHeadBytes, values = (long)BlockTokens * l.ValueHeadBytes;
                Buffer.MemoryCopy(HeadRows(from, layer, false, head), HeadRows(to, layer, false, head), keys, keys);
                Buffer.MemoryCopy(HeadRows(from, layer, true, head), HeadRows(to, layer, true, head), values, values);
            }
        }
    }

    public void Dispose() => NativeMemory.AlignedFree(_storage);
}

/// <summary>The shape of one layer's cached keys and values: KV heads × head size.</summary>
public readonly record struct KvShape(int KvHeads, int HeadDim);

/// <summary>Where one layer's keys and values sit in a <see cref="KvCache"/>'s storage, and their row sizes.</summary>
public sealed class KvLayer
{
    private readonly long _start, _keyRegion, _valueRegion;
    private readonly int _blockTokens;

    internal KvLayer(KvShape shape, int keyHeadBytes, int valueHeadBytes, long start, int blocks, int blockTokens)
    {
        Shape = shape;
        KeyHeadBytes = keyHeadBytes;
        ValueHeadBytes = valueHeadBytes;
        _start = start;
        _blockTokens = blockTokens;
        _keyRegion = (long)blocks * blockTokens * keyHeadBytes;
        _valueRegion = (long)blocks * blockTokens * valueHeadBytes;
        Bytes = shape.KvHeads * (_keyRegion + _valueRegion);
    }

    public KvShape Shape { get; }

    /// <summary>Bytes of one KV head's slice of a key row and of a value row.</summary>
    public int KeyHeadBytes { get; }
    public int ValueHeadBytes { get; }

    /// <summary>Bytes of one row of keys (all KV heads of one position) and of one row of values.</summary>
    public int KeyRowBytes => Shape.KvHeads * KeyHeadBytes;
    public int ValueRowBytes => Shape.KvHeads * ValueHeadBytes;

    internal long Bytes { get; }

    internal long Offset(int block, bool value, int head) => value
        ? _start + Shape.KvHeads * _keyRegion + head * _valueRegion + (long)block * _blockTokens * ValueHeadBytes
        : _start + head * _keyRegion + (long)block * _blockTokens * KeyHeadBytes;
}

/// <summary>One sequence's share of a <see cref="KvCache"/>: its blocks and how many positions hold keys and values.</summary>
public sealed class KvSequence
{
    internal KvSequence(int id) => Id = id;

    public int Id { get; }

    /// <summary>Positions [0, Length) are filled.</summary>
    public int Length { get; internal set; }

    /// <summary>The sequence's blocks in position order; <see cref="KvCache.Hole"/> for one it let go of.</summary>
    public IReadOnlyList<int> Blocks => BlockList;

    internal List<int> BlockList { get; } = [];

    /// <summary>Leading blocks released by <see cref="KvCache.ReleaseBefore"/>.</summary>
    internal int ReleasedBlocks { get; set; }
}

/// <summary>No free blocks left in the KV cache pool.</summary>
public sealed class KvCacheFullException(string message) : Exception(message);
