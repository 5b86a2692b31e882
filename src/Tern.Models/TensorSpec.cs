using Tern.Gguf;

namespace Tern.Models;

/// <summary>What a tensor is for: decides its type when synthesized (<c>TensorTypePolicy</c>) and its values.</summary>
public enum TensorRole
{
    TokenEmbedding,
    Output,
    Norm,
    Bias,
    AttnQ,
    AttnK,
    AttnV,
    AttnOutput,
    FfnGate,
    FfnUp,
    FfnDown,
    Router,

    /// <summary>Small F32 parameters of a Gated DeltaNet layer (conv kernel, dt bias): random like biases.</summary>
    Ssm,

    /// <summary>A DeltaNet layer's decay rates ssm_a = −exp(A_log): negative, so the state fades.</summary>
    SsmDecay,

    /// <summary>RoPE frequency divisors (gemma4's rope_freqs): 1 on the rotated pairs, 1e30 on the others.</summary>
    RopeFactors,
}

/// <summary>One tensor an architecture's file holds (<see cref="TensorTable"/>): GGUF name, ggml shape, role.
/// <paramref name="Layer"/> is −1 outside the blocks.</summary>
public sealed record TensorSpec(string Name, long[] Dimensions, TensorRole Role, int Layer)
{
    /// <summary>A file may leave it out (gemma4's attn_v on layers whose values are their keys, per-expert scales).</summary>
    public bool Optional { get; init; }

    public long RowLength => Dimensions[0];

    /// <summary>Rows of <see cref="RowLength"/>: every dimension after the first (experts stack their matrices).</summary>
    public long RowCount => Dimensions.Skip(1).Aggregate(1L, (n, d) => n * d);

    public bool IsMatrix => Role is not (TensorRole.Norm or TensorRole.Bias or TensorRole.Ssm or TensorRole.SsmDecay or TensorRole.RopeFactors);
}

/// <summary>One tensor of a synthetic model: its <see cref="TensorSpec"/> and the type it is written in.</summary>
public sealed record SyntheticTensor(string Name, long[] Dimensions, GgmlType Type, TensorRole Role, int Layer)
{
    public long RowLength => Dimensions[0];

    /// <summary>Rows of <see cref="RowLength"/>: every dimension after the first (experts stack their matrices).</summary>
    public long RowCount => Dimensions.Skip(1).Aggregate(1L, (n, d) => n * d);

    public long ByteCount => GgmlTypeSizes.RowBytes(Type, RowLength) * RowCount;

    public bool IsMatrix => Role is not (TensorRole.Norm or TensorRole.Bias or TensorRole.Ssm or TensorRole.SsmDecay or TensorRole.RopeFactors);
}
