using System.Runtime.InteropServices;

namespace Tern.Models;

/// <summary>
/// Fixed-size per-sequence state of the recurrent layers (Gated DeltaNet: the conv's last inputs and the recurrent
/// matrices), in slots: a running sequence holds one, a fork or a checkpoint is a copy into another. Unlike KV
/// blocks, a slot cannot be cut back to an earlier position; it only moves forward, or is restored from a copy.
/// </summary>
public sealed class RecurrentCache
{
    private readonly float[] _storage;
    private readonly long[] _convOffset, _matrixOffset;
    private readonly int[] _convFloats, _matrixFloats;
    private readonly Stack<int> _free;

    /// <param name="layers">The recurrent layers, in model order.</param>
    /// <param name="slots">How many copies of the state exist at once.</param>
    public RecurrentCache(IReadOnlyList<DeltaNetSpec> layers, int slots)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slots);
        _convOffset = new long[layers.Count];
        _matrixOffset = new long[layers.Count];
        _convFloats = new int[layers.Count];
        _matrixFloats = new int[layers.Count];
        long offset = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            _convFloats[i] = layers[i].ConvStateFloats;
            _matrixFloats[i] = layers[i].RecurrentStateFloats;
            _convOffset[i] = offset;
            _matrixOffset[i] = offset + _convFloats[i];
            offset += _convFloats[i] + _matrixFloats[i];
        }

        SlotFloats = offset;
        Slots = slots;
        _storage = GC.AllocateUninitializedArray<float>(checked((int)(offset * slots)));
        _free = new Stack<int>(Enumerable.Range(0, slots).Reverse());
    }

    public int Layers => _convOffset.Length;
    public int Slots { get; }
    public int FreeSlots => _free.Count;

    /// <summary>Floats of one slot: every recurrent layer's conv state and matrices.</summary>
    public long SlotFloats { get; }

    /// <summary>Bytes of one sequence's recurrent state.</summary>
    public long SlotBytes => SlotFloats * sizeof(float);

    public long ReservedBytes => SlotBytes * Slots;

    /// <summary>A free slot, zeroed (the state before the first token).</summary>
    /// <exception cref="KvCacheFullException">Every slot is taken.</exception>
    public int Rent()
    {
        if (_free.Count == 0)
            throw new KvCacheFullException($"recurrent state full: all {Slots} slots are in use");
        int slot = _free.Pop();
        Slot(slot).Clear();
        return slot;
    }

    public void Return(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, Slots);
        _free.Push(slot);
    }

    /// <summary>A slot's whole state (every recurrent layer's conv state and matrices), to copy out or in.</summary>
    public Span<float> State(int slot) => Slot(slot);

    /// <summary>Copies one slot's state into another.</summary>
    public void Copy(int from, int to) => Slot(from).CopyTo(Slot(to));

    /// <summary>Zeroes a slot: the state before the first token.</summary>
    public void Reset(int slot) => Slot(slot).Clear();

    /// <summary>The last ConvKernel − 1 inputs of the conv of recurrent layer <paramref name="layer"/>: [kernel − 1, channels].</summary>
    public Span<float> Conv(int slot, int layer) => _storage.AsSpan(checked((int)(slot * SlotFloats + _convOffset[layer])), _convFloats[layer]);

    /// <summary>The recurrent matrices of layer <paramref name="layer"/>: [value heads, key dim, value dim].</summary>
    public Span<float> Matrices(int slot, int layer) => _storage.AsSpan(checked((int)(slot * SlotFloats + _matrixOffset[layer])), _matrixFloats[layer]);

    private Span<float> Slot(int slot) => _storage.AsSpan(checked((int)(slot * SlotFloats)), (int)SlotFloats);
}
