using System.Diagnostics.CodeAnalysis;
using Tern.Gguf;

namespace Tern.Models.Synthesis;

/// <summary>
/// A weight type as llama-quantize names it: the llama_ftype number written to <c>general.file_type</c> and the
/// tensor type most weight matrices get (<see cref="TensorTypePolicy"/> decides the exceptions, as llama-quantize does).
/// </summary>
public sealed record SynthesisType(string Name, int FileType, GgmlType BaseType)
{
    // llama_ftype values (llama.h); they are part of the file format.
    public const int AllF32 = 0, MostlyF16 = 1, MostlyQ4_0 = 2, MostlyQ4_1 = 3, MostlyQ8_0 = 7, MostlyQ5_0 = 8, MostlyQ5_1 = 9,
        MostlyQ2_K = 10, MostlyQ3_K_S = 11, MostlyQ3_K_M = 12, MostlyQ3_K_L = 13, MostlyQ4_K_S = 14, MostlyQ4_K_M = 15,
        MostlyQ5_K_S = 16, MostlyQ5_K_M = 17, MostlyQ6_K = 18, MostlyIQ4_NL = 25, MostlyIQ4_XS = 30, MostlyBF16 = 32, MostlyTQ1_0 = 36, MostlyTQ2_0 = 37;

    /// <summary>F32, F16 and BF16 files keep every matrix in that type; only quantized types get llama-quantize's mixes.</summary>
    public bool IsQuantized => BaseType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16);
}

/// <summary>The weight types `tern synth` accepts (case-insensitive), with llama-quantize's aliases.</summary>
public static class SynthesisTypes
{
    private static readonly SynthesisType[] Rows =
    [
        new("f32", SynthesisType.AllF32, GgmlType.F32),
        new("f16", SynthesisType.MostlyF16, GgmlType.F16),
        new("bf16", SynthesisType.MostlyBF16, GgmlType.BF16),
        new("q4_0", SynthesisType.MostlyQ4_0, GgmlType.Q4_0),
        new("q4_1", SynthesisType.MostlyQ4_1, GgmlType.Q4_1),
        new("q5_0", SynthesisType.MostlyQ5_0, GgmlType.Q5_0),
        new("q5_1", SynthesisType.MostlyQ5_1, GgmlType.Q5_1),
        new("q8_0", SynthesisType.MostlyQ8_0, GgmlType.Q8_0),
        new("q2_k", SynthesisType.MostlyQ2_K, GgmlType.Q2_K),
        new("q3_k_s", SynthesisType.MostlyQ3_K_S, GgmlType.Q3_K),
        new("q3_k_m", SynthesisType.MostlyQ3_K_M, GgmlType.Q3_K),
        new("q3_k_l", SynthesisType.MostlyQ3_K_L, GgmlType.Q3_K),
        new("q4_k_s", SynthesisType.MostlyQ4_K_S, GgmlType.Q4_K),
        new("q4_k_m", SynthesisType.MostlyQ4_K_M, GgmlType.Q4_K),
        new("q5_k_s", SynthesisType.MostlyQ5_K_S, GgmlType.Q5_K),
        new("q5_k_m", SynthesisType.MostlyQ5_K_M, GgmlType.Q5_K),
        new("q6_k", SynthesisType.MostlyQ6_K, GgmlType.Q6_K),
        new("iq4_nl", SynthesisType.MostlyIQ4_NL, GgmlType.IQ4_NL),
        new("iq4_xs", SynthesisType.MostlyIQ4_XS, GgmlType.IQ4_XS),
        new("tq1_0", SynthesisType.MostlyTQ1_0, GgmlType.TQ1_0),
        new("tq2_0", SynthesisType.MostlyTQ2_0, GgmlType.TQ2_0),
    ];

    // llama-quantize: "Q3_K", "Q4_K" and "Q5_K" are aliases of the _M mixes.
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["q3_k"] = "q3_k_m",
        ["q4_k"] = "q4_k_m",
        ["q5_k"] = "q5_k_m",
    };

    public static IReadOnlyList<SynthesisType> All { get; } = Array.AsReadOnly(Rows);

    /// <summary>Every accepted name, aliases included, in table order.</summary>
    public static IEnumerable<string> Names =>
        Rows.SelectMany(r => Aliases.Where(a => a.Value == r.Name).Select(a => a.Key).Prepend(r.Name));

    public static bool TryGet(string name, [MaybeNullWhen(false)] out SynthesisType type)
    {
        string canonical = Aliases.GetValueOrDefault(name, name);
        type = Array.Find(Rows, r => string.Equals(r.Name, canonical, StringComparison.OrdinalIgnoreCase));
        return type is not null;
    }

    public static SynthesisType Get(string name) => TryGet(name, out var type)
        ? type
        : throw new SynthesisException($"unknown type '{name}'; valid types: {string.Join(", ", Names)}");
}
