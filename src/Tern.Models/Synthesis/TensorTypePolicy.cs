using Tern.Gguf;

namespace Tern.Models.Synthesis;

/// <summary>
/// The type each tensor gets, as llama-quantize's <c>llama_tensor_get_type</c> chooses it (not falcon, not 70B, no
/// 8-expert rules): norms, biases and the MoE router (ffn_gate_inp, never quantized) stay F32; F32/F16/BF16 files keep every matrix in that type;
/// quantized files put the output matrix (token_embd when tied) in Q6_K (Q8_0 stays Q8_0), the TQ types' token_embd
/// in Q4_K, apply the K-quant mixes (q2_k, q3_k_m, q4_k_m, ...), and fall back to another type when a row is not a
/// multiple of the block size (qwen2.5-0.5b's 896). With <c>pure</c> (llama-quantize --pure) every matrix gets the
/// requested type, except where the row length forces the fallback.
/// </summary>
public static class TensorTypePolicy
{
    public static GgmlType Choose(SynthesisType type, ModelShape shape, TensorRole role, int layer, long rowLength, bool pure, ICollection<string>? notes = null)
    {
        if (role is TensorRole.Norm or TensorRole.Bias or TensorRole.Router or TensorRole.Ssm or TensorRole.SsmDecay or TensorRole.RopeFactors)
            return GgmlType.F32;
        if (!type.IsQuantized)
            return type.BaseType;

        var t = pure ? type.BaseType : MixType(type, shape, role, layer, rowLength);
        return Fallback(t, rowLength, notes);
    }

    private static GgmlType MixType(SynthesisType type, ModelShape shape, TensorRole role, int layer, long rowLength)
    {
        var t = type.BaseType;
        int n = shape.BlockCount;
        int gqa = shape.HeadCount / shape.HeadCountKv;
        int f = type.FileType;
        switch (role)
        {
            case TensorRole.Output:
            case TensorRole.TokenEmbedding when shape.TiedOutput:
                return rowLength % BlockSize(t) != 0 ? GgmlType.Q8_0 : t == GgmlType.Q8_0 ? t : GgmlType.Q6_K;
            case TensorRole.TokenEmbedding:
                return f is SynthesisType.MostlyTQ1_0 or SynthesisType.MostlyTQ2_0 ? GgmlType.Q4_K : t;
            case TensorRole.AttnV:
                return f switch
                {
                    SynthesisType.MostlyQ2_K => gqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K,
                    SynthesisType.MostlyQ3_K_M => layer < 2 ? GgmlType.Q5_K : GgmlType.Q4_K,
                    SynthesisType.MostlyQ3_K_L => GgmlType.Q5_K,
                    SynthesisType.MostlyIQ4_NL or SynthesisType.MostlyIQ4_XS when gqa >= 4 => GgmlType.Q5_K,
                    SynthesisType.MostlyQ4_K_M or SynthesisType.MostlyQ5_K_M when UseMoreBits(layer, n) => GgmlType.Q6_K,
                    SynthesisType.MostlyQ4_K_S when layer < 4 => GgmlType.Q5_K,
                    _ => t,
                };
            case TensorRole.FfnDown:
                return f switch
                {
                    SynthesisType.MostlyQ2_K => GgmlType.Q3_K,
                    SynthesisType.MostlyQ3_K_M => layer < n / 16 ? GgmlType.Q5_K : GgmlType.Q4_K,
                    SynthesisType.MostlyQ3_K_L => GgmlType.Q5_K,
                    SynthesisType.MostlyQ4_K_M or SynthesisType.MostlyQ5_K_M when UseMoreBits(layer, n) => GgmlType.Q6_K,
                    SynthesisType.MostlyIQ4_NL or SynthesisType.MostlyIQ4_XS when layer < n / 8 => GgmlType.Q5_K, // without an imatrix
                    SynthesisType.MostlyQ4_K_S when layer < n / 8 => GgmlType.Q5_K,
                    _ => t,
                };
            case TensorRole.AttnOutput:
                return f switch
                {
                    SynthesisType.MostlyQ2_K => GgmlType.Q3_K,
                    SynthesisType.MostlyQ3_K_M => GgmlType.Q4_K,
                    SynthesisType.MostlyQ3_K_L => GgmlType.Q5_K,
                    _ => t,
                };
            default:
                return t;
        }
    }

    // llama-quantize's use_more_bits: the first and last eighth of the layers and every third one between.
    private static bool UseMoreBits(int layer, int n) => layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2;

    /// <summary>llama-quantize's fallback for rows that are not a multiple of the block size.</summary>
    private static GgmlType Fallback(GgmlType t, long rowLength, ICollection<string>? notes)
    {
        if (rowLength % BlockSize(t) == 0)
            return t;
        var fallback = t switch
        {
            GgmlType.TQ1_0 or GgmlType.TQ2_0 => GgmlType.Q4_0,
            GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.IQ4_XS => GgmlType.IQ4_NL,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => throw new SynthesisException($"rows of {rowLength} cannot be stored as {t} (block size {BlockSize(t)})"),
        };
        if (rowLength % BlockSize(fallback) != 0)
            fallback = GgmlType.F16;
        notes?.Add($"rows of {rowLength} are not a multiple of {BlockSize(t)}: {t} -> {fallback} (llama-quantize's fallback)");
        return fallback;
    }

    private static int BlockSize(GgmlType t) => GgmlTypeSizes.Get(t).BlockSize;
}
