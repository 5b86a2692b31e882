using Tern.Gguf;

namespace Tern.Models;

/// <summary>How much state a runner reserves: KV positions in blocks, and recurrent slots.</summary>
public sealed record StateOptions
{
    /// <summary>KV positions of the pool over all sequences (rounded up to whole blocks).</summary>
    public required int CapacityTokens { get; init; }
    public int BlockTokens { get; init; } = 32;
    public GgmlType KeyType { get; init; } = GgmlType.F16;
    public GgmlType ValueType { get; init; } = GgmlType.F16;

    /// <summary>Recurrent slots (sequences alive at once, forks and checkpoints included); used only by models
    /// with recurrent layers.</summary>
    public int RecurrentSlots { get; init; } = 1;
}

/// <summary>The KV cache of one kind of attention layer; <see cref="Window"/> &gt; 0 for sliding-window layers.</summary>
public sealed record KvGroup(KvCache Cache, int Window, int[] Layers);

/// <summary>
/// All per-sequence state of one model, as cache groups: the full-attention layers' KV blocks, the sliding-window
/// layers' KV blocks (released as they leave the window, unless another holder keeps them), and the recurrent
/// layers' slots. Every sequence holds a share of each. The scheduler makes room here (<see cref="PrepareWrite"/>)
/// before a step; the forward pass only writes into what it was given. Not thread-safe.
/// </summary>
public sealed class StateCache : IDisposable
{
    private readonly (int Group, int Layer)[] _kvLayer;
    private readonly int[] _recurrentLayer;
    private int _nextId;

    public StateCache(IReadOnlyList<LayerSpec> layers, StateOptions options)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(options);
        _kvLayer = new (int, int)[layers.Count];
        _recurrentLayer = new int[layers.Count];
        Array.Fill(_kvLayer, (-1, -1));
        Array.Fill(_recurrentLayer, -1);

        // One KV group per window size (0: full attention), layers in model order.
        var groups = new List<KvGroup>();
        foreach (int window in layers.Select(l => l.Attention?.Window).OfType<int>().Distinct().Order())
        {
            int[] members = layers.Where(l => l.Attention?.Window == window).Select(l => l.Index).ToArray();
            var shapes = members.Select(i => layers[i].Attention!.KvShape).ToArray();
            // A sliding group needs at most the window (plus a block on each side) per sequence, but the pool is
            // sized like the others: blocks a prefix cache keeps may fill it.
            var cache = new KvCache(shapes, options.CapacityTokens, options.BlockTokens, options.KeyType, options.ValueType);
            for (int j = 0; j < members.Length; j++)
                _kvLayer[members[j]] = (groups.Count, j);
            groups.Add(new KvGroup(cache, window, members));
        }

        if (groups.Count == 0)
            throw new ArgumentException("a model needs at least one attention layer", nameof(layers));
        Groups = groups;

        var recurrent = layers.Where(l => l.DeltaNet is not null).ToArray();
        for (int j = 0; j < recurrent.Length; j++)
            _recurrentLayer[recurrent[j].Index] = j;
        Recurrent = recurrent.Length == 0 ? null : new RecurrentCache([.. recurrent.Select(l => l.DeltaNet!)], options.RecurrentSlots);
        Layers = layers;
        BlockTokens = options.BlockTokens;
        KeyType = options.KeyType;
        ValueType = options.ValueType;
    }

    public IReadOnlyList<KvGroup> Groups { get; }
    public RecurrentCache? Recurrent { get; }
    public int BlockTokens { get; }
    public GgmlType KeyType { get; }
    public GgmlType ValueType { get; }

    /// <summary>Blocks of each KV group's pool.</summary>
    public int BlockCount => Groups[0].Cache.BlockCount;

    /// <summary>Free blocks of the group with the fewest (a loop, not LINQ: it runs every step).</summary>
    public int FreeBlockCount
    {
        get
        {
            int free = int.MaxValue;
            for (int g = 0; g < Groups.Count; g++)
                free = Math.Min(free, Groups[g].Cache.FreeBlockCount);
            return free;
        }
    }

    /// <summary>The layers the state was laid out for.</summary>
    public IReadOnlyList<LayerSpec> Layers { get; }

    /// <summary>Whether the state was laid out for these layers (a loop, not LINQ: it runs every step).</summary>
    public bool Fits(IReadOnlyList<LayerSpec> layers)
    {
        if (layers.Count != Layers.Count)
            return false;
        for (int i = 0; i < layers.Count; i++)
        {
            if (!layers[i].Equals(Layers[i]))
                return false;
        }

        return true;
    }

    /// <summary>Bytes one cached token takes in all KV groups.</summary>
    public long KvBytesPerToken => Groups.Sum(g => g.Cache.BytesPerToken);

    /// <summary>Bytes reserved for the KV pools.</summary>
    public long KvBytes => Groups.Sum(g => g.Cache.ReservedBytes);

    /// <summary>Bytes reserved for the recurrent slots.</summary>
    public long RecurrentBytes => Recurrent?.ReservedBytes ?? 0;

    public long ReservedBytes => KvBytes + RecurrentBytes;

    /// <summary>The index of an attention layer's KV group and the layer's index inside it.</summary>
    public (int Group, int Layer) KvLayer(int layer) =>
        _kvLayer[layer].Group >= 0 ? _kvLayer[layer] : throw new ArgumentException($"layer {layer} has no KV cache", nameof(layer));

    /// <summary>A recurrent layer's index among the recurrent layers.</summary>
    public int RecurrentLayer(int layer) => _recurrentLayer[layer] >= 0 ? _recurrentLayer[layer] : throw new ArgumentException($"layer {layer} is not recurrent", nameof(layer));

    public SequenceState CreateSequence() => new(_nextId++, [.. Groups.Select(g => g.Cache.CreateSequence())]);

    /// <summary>
    /// A new sequence whose positions [0, <paramref name="length"/>) are already in <paramref name="blocks"/>
    /// (per block, one id per KV group, e.g. blocks a prefix cache kept); it shares them, as a fork does. A model
    /// with recurrent layers can start this way only from position 0 or from a checkpoint (<see cref="Restore"/>).
    /// </summary>
    public SequenceState CreateSequence(IReadOnlyList<int[]> blocks, int length)
    {
        var kv = new KvSequence[Groups.Count];
        for (int g = 0; g < Groups.Count; g++)
            kv[g] = Groups[g].Cache.CreateSequence(blocks.Select(b => b[g]).ToArray(), length);
        return new SequenceState(_nextId++, kv) { Length = length };
    }

    /// <summary>
    /// How much of a cached prefix of <paramref name="length"/> positions in <paramref name="blocks"/> a new sequence
    /// can resume from: the longest length up to it at which every sliding-window group still has the blocks the
    /// next query sees. A model with recurrent layers resumes only from a checkpoint: 0 here.
    /// </summary>
    public int Resumable(IReadOnlyList<int[]> blocks, int length)
    {
        if (Recurrent is not null)
            return 0;
        return ResumableKv(blocks, length);
    }

    /// <summary>As <see cref="Resumable"/>, for the KV groups alone (a recurrent model resuming from a checkpoint).</summary>
    public int ResumableKv(IReadOnlyList<int[]> blocks, int length)
    {
        for (int candidate = length; candidate > 0; candidate = (candidate - 1) / BlockTokens * BlockTokens)
        {
            if (HasWindow(blocks, candidate))
                return candidate;
        }

        return 0;
    }

    private bool HasWindow(IReadOnlyList<int[]> blocks, int length)
    {
        int last = (length + BlockTokens - 1) / BlockTokens;
        for (int g = 0; g < Groups.Count; g++)
        {
            int first = Groups[g].Window > 0 ? Math.Max(0, length - Groups[g].Window + 1) / BlockTokens : 0;
            for (int b = first; b < last; b++)
            {
                if (blocks[b][g] == KvCache.Hole)
                    return false;
            }
        }

        return true;
    }

    /// <summary>A new sequence holding the first <paramref name="length"/> positions of <paramref name="source"/>
    /// (KV blocks shared, copied on write). A recurrent state is copied, so only a fork at the source's full
    /// length is possible for such models.</summary>
    public SequenceState Fork(SequenceState source, int length)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (Recurrent is not null && length != source.Length && length != 0)
            throw new ArgumentException($"a recurrent state holds position {source.Length} only: it cannot be forked at {length}", nameof(length));
        var fork = new SequenceState(_nextId++, [.. Groups.Select((g, i) => g.Cache.Fork(source.Kv[i], length))]) { Length = length };
        if (Recurrent is not null && length > 0 && source.RecurrentSlot >= 0)
        {
            fork.RecurrentSlot = Recurrent.Rent();
            Recurrent.Copy(source.RecurrentSlot, fork.RecurrentSlot);
        }

        return fork;
    }

    /// <summary>Free blocks a write of positions [start, end) would take in the group that needs most.</summary>
    public int BlocksToWrite(SequenceState sequence, int start, int end)
    {
        int most = 0;
        for (int g = 0; g < Groups.Count; g++)
            most = Math.Max(most, Groups[g].Cache.BlocksToWrite(sequence.Kv[g], start, end));
        return most;
    }

    /// <summary>
    /// Makes positions [<paramref name="start"/>, <paramref name="end"/>) writable for the sequence in every
    /// group: blocks allocated or copied on write, sliding-window blocks no query of the step sees released, a
    /// recurrent slot taken (zeroed) when the sequence starts. Then the sequence is <paramref name="end"/> long.
    /// </summary>
    /// <exception cref="KvCacheFullException">Not enough free blocks or slots; the sequence keeps what it had.</exception>
    public void PrepareWrite(SequenceState sequence, int start, int end)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (Recurrent is not null && start != sequence.Length)
            throw new ArgumentException($"a recurrent state holds position {sequence.Length}: the step must continue from there, not from {start}", nameof(start));
        if (Recurrent is not null && sequence.RecurrentSlot < 0 && Recurrent.FreeSlots == 0)
            throw new KvCacheFullException($"recurrent state full: all {Recurrent.Slots} slots are in use");
        for (int g = 0; g < Groups.Count; g++)
        {
            var cache = Groups[g].Cache;
            int needed = cache.BlocksToWrite(sequence.Kv[g], start, end);
            if (needed > cache.FreeBlockCount)
                throw new KvCacheFullException($"KV cache full: positions up to {end} need {needed} more blocks of {BlockTokens} tokens, {cache.FreeBlockCount} free of {cache.BlockCount}");
        }

        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            group.Cache.PrepareWrite(sequence.Kv[g], start, end);
            if (group.Window > 0)
                group.Cache.ReleaseBefore(sequence.Kv[g], start - group.Window + 1);
        }

        if (Recurrent is not null && sequence.RecurrentSlot < 0)
            sequence.RecurrentSlot = Recurrent.Rent();
        SetLength(sequence, Math.Max(sequence.Length, end));
    }

    /// <summary>Keeps the first <paramref name="length"/> positions. A recurrent state cannot be cut back: only a
    /// truncation to 0 (it is zeroed) or to the length it has is possible.</summary>
    public void Truncate(SequenceState sequence, int length)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (Recurrent is not null && length != 0 && length != sequence.Length)
            throw new ArgumentException($"a recurrent state holds position {sequence.Length}: it cannot be cut back to {length}", nameof(length));
        for (int g = 0; g < Groups.Count; g++)
            Groups[g].Cache.Truncate(sequence.Kv[g], length);
        if (Recurrent is not null && length == 0 && sequence.RecurrentSlot >= 0)
            Recurrent.Reset(sequence.RecurrentSlot);
        sequence.Length = Math.Min(sequence.Length, length);
    }

    /// <summary>Returns all the sequence's blocks and its recurrent slot.</summary>
    public void Free(SequenceState sequence)
    {
        Truncate(sequence, 0);
        if (Recurrent is not null && sequence.RecurrentSlot >= 0)
        {
            Recurrent.Return(sequence.RecurrentSlot);
            sequence.RecurrentSlot = -1;
        }
    }

    /// <summary>
    /// A copy of the sequence's recurrent state in a slot of its own (the state after its <see cref="SequenceState.Length"/>
    /// positions), or −1 when no slot is free. The caller owns the slot until <see cref="ReleaseCheckpoint"/>.
    /// </summary>
    public int SaveCheckpoint(SequenceState sequence)
    {
        if (Recurrent is null || sequence.RecurrentSlot < 0 || Recurrent.FreeSlots == 0)
            return -1;
        int slot = Recurrent.Rent();
        Recurrent.Copy(sequence.RecurrentSlot, slot);
        return slot;
    }

    /// <summary>Gives a sequence that starts from a cached prefix the recurrent state of the checkpoint taken at its length.</summary>
    /// <exception cref="KvCacheFullException">No recurrent slot is free.</exception>
    public void Restore(SequenceState sequence, int checkpoint)
    {
        if (Recurrent is null)
            throw new InvalidOperationException("the model has no recurrent state to restore");
        if (sequence.RecurrentSlot < 0)
            sequence.RecurrentSlot = Recurrent.Rent();
        Recurrent.Copy(checkpoint, sequence.RecurrentSlot);
    }

    public void ReleaseCheckpoint(int slot) => Recurrent!.Return(slot);

    /// <summary>A free block of one group with one holder, the caller.</summary>
    public int RentBlock(int group) => Groups[group].Cache.Rent();

    /// <summary>Adds a holder that is not a sequence (a prefix cache) to a block of one group.</summary>
    public void Retain(int group, int block) => Groups[group].Cache.Retain(block);

    /// <summary>Drops a holder of a block of one group; the last one returns it to the pool.</summary>
    public void Release(int group, int block) => Groups[group].Cache.Release(block);

    public int ReferenceCount(int group, int block) => Groups[group].Cache.ReferenceCount(block);

    private static void SetLength(SequenceState sequence, int length)
    {
        sequence.Length = length;
        foreach (var kv in sequence.Kv)
            kv.Length = length;
    }

    public void Dispose()
    {
        foreach (var group in Groups)
            group.Cache.Dispose();
    }
}
