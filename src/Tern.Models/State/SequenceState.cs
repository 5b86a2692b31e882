namespace Tern.Models;

/// <summary>
/// One sequence's state in a <see cref="StateCache"/>: its blocks in each KV group (full-attention layers,
/// sliding-window layers) and, for a model with recurrent layers, the slot holding their conv and DeltaNet state.
/// The handle a step batch carries for each token.
/// </summary>
public sealed class SequenceState
{
    internal SequenceState(int id, KvSequence[] kv)
    {
        Id = id;
        Kv = kv;
    }

    public int Id { get; }

    /// <summary>Positions [0, Length) have been run.</summary>
    public int Length { get; internal set; }

    /// <summary>The sequence's share of each KV group, in <see cref="StateCache.Groups"/> order.</summary>
    public IReadOnlyList<KvSequence> Kv { get; }

    /// <summary>The recurrent slot, or −1 when the model has no recurrent layers or none is held yet.</summary>
    public int RecurrentSlot { get; internal set; } = -1;

    /// <summary>Blocks of the first KV group in position order (every group has as many).</summary>
    public IReadOnlyList<int> Blocks => Kv[0].Blocks;
}
