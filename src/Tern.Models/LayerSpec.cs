namespace Tern.Models;

/// <summary>
/// One layer of a model: its token mixer (self-attention or a Gated DeltaNet recurrence) and its feed-forward
/// (dense, Mixture-of-Experts, or both side by side). Read once from GGUF by <see cref="ModelConfig.FromGguf"/>.
/// </summary>
public sealed record LayerSpec(int Index, MixerSpec Mixer, FeedForwardKind FeedForward)
{
    public AttentionSpec? Attention => Mixer as AttentionSpec;
    public DeltaNetSpec? DeltaNet => Mixer as DeltaNetSpec;
}

/// <summary>What mixes information across the positions of a sequence in one layer.</summary>
public abstract record MixerSpec;

/// <summary>
/// Multi-head self-attention over cached keys and values: <see cref="Heads"/> query heads share
/// <see cref="KvHeads"/> key/value heads of <see cref="HeadDim"/>; RoPE on the first <see cref="Rope"/>.Dims of each
/// head; a sliding-window layer (<see cref="Window"/> &gt; 0) attends only to the last <see cref="Window"/> positions.
/// </summary>
public sealed record AttentionSpec(int Heads, int KvHeads, int HeadDim, RopeSpec Rope, int Window) : MixerSpec
{
    /// <summary>Width of one token's queries across all heads.</summary>
    public int QDim => Heads * HeadDim;

    /// <summary>Width of one token's keys (or values) across all KV heads.</summary>
    public int KvDim => KvHeads * HeadDim;

    public bool Sliding => Window > 0;

    public KvShape KvShape => new(KvHeads, HeadDim);
}

/// <summary>Rotary position embedding of a layer: rotated dimensions per head, base, and per-pair frequency
/// divisors (gemma4's proportional RoPE; null for none).</summary>
public sealed record RopeSpec(int Dims, float Base, float[]? FreqFactors = null);

/// <summary>
/// A Gated DeltaNet layer (qwen35moe): a causal conv1d of <see cref="ConvKernel"/> taps over the mixed q/k/v
/// channels, then per value head a [<see cref="HeadKeyDim"/>, <see cref="HeadValueDim"/>] state updated by the delta
/// rule. Its per-sequence state is fixed in size: the conv's last inputs and the recurrent matrices.
/// </summary>
public sealed record DeltaNetSpec(int ConvKernel, int KeyHeads, int ValueHeads, int HeadKeyDim, int HeadValueDim) : MixerSpec
{
    /// <summary>Channels of the conv: q and k of every key head, v of every value head.</summary>
    public int ConvChannels => 2 * KeyHeads * HeadKeyDim + ValueHeads * HeadValueDim;

    /// <summary>Floats of the conv state: the last ConvKernel − 1 inputs of every channel.</summary>
    public int ConvStateFloats => (ConvKernel - 1) * ConvChannels;

    /// <summary>Floats of the recurrent state: one [key, value] matrix per value head.</summary>
    public int RecurrentStateFloats => ValueHeads * HeadKeyDim * HeadValueDim;
}

/// <summary>Which feed-forward blocks a layer has; gemma4 runs a dense FFN beside its experts.</summary>
[Flags]
public enum FeedForwardKind
{
    Dense = 1,
    Experts = 2,
    DenseAndExperts = Dense | Experts,
}
