using System.Globalization;
using Tern.Gguf;
using Tern.Models;

namespace Tern.Runtime.Sampling;

/// <summary>
/// The sampling a model's author recommends in its GGUF metadata (<c>general.sampling.*</c>, as llama.cpp reads
/// it): temp, top_k, top_p, min_p, penalty_repeat and penalty_last_n replace the family defaults. Like llama.cpp,
/// any numeric GGUF type is accepted, and top_k &lt;= 0 means off. The keys Tern has no sampler for (sequence,
/// xtc_*, mirostat*) are ignored. A value of the wrong type or out of range is a <see cref="ModelLoadException"/>
/// naming the key.
/// </summary>
public static class RecommendedSampling
{
    public const string Prefix = "general.sampling.";

    /// <summary><paramref name="defaults"/> with every recommended value the file carries.</summary>
    public static SamplingParams Apply(GgufFile file, SamplingParams defaults)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(defaults);
        var p = defaults with
        {
            Temperature = Float(file, "temp") ?? defaults.Temperature,
            TopK = Integer(file, "top_k") is { } k ? Math.Max(k, 0) : defaults.TopK,
            TopP = Float(file, "top_p") ?? defaults.TopP,
            MinP = Float(file, "min_p") ?? defaults.MinP,
            RepeatPenalty = Float(file, "penalty_repeat") ?? defaults.RepeatPenalty,
            RepeatLastN = Integer(file, "penalty_last_n") ?? defaults.RepeatLastN,
        };
        Check(file, "temp", p.Temperature >= 0, "must be >= 0 (0 = greedy)");
        Check(file, "top_p", p.TopP is > 0 and <= 1, "must be in (0, 1] (1 = off)");
        Check(file, "min_p", p.MinP is >= 0 and <= 1, "must be in [0, 1] (0 = off)");
        Check(file, "penalty_repeat", p.RepeatPenalty > 0, "must be > 0 (1 = off)");
        Check(file, "penalty_last_n", p.RepeatLastN >= -1, "must be >= -1 (-1 = whole history)");
        return p;
    }

    /// <summary>Whether the file recommends any value Tern applies.</summary>
    public static bool IsPresent(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return Applied.Any(name => file.TryGetValue(Prefix + name, out _));
    }

    private static readonly string[] Applied = ["temp", "top_k", "top_p", "min_p", "penalty_repeat", "penalty_last_n"];

    private static float? Float(GgufFile file, string name)
    {
        if (!file.TryGetValue(Prefix + name, out var value))
            return null;
        double d = Number(file, name, value);
        if (!double.IsFinite(d) || Math.Abs(d) > float.MaxValue)
            throw Bad(file, name, value, "must be a finite number");
        return (float)d;
    }

    private static int? Integer(GgufFile file, string name)
    {
        if (!file.TryGetValue(Prefix + name, out var value))
            return null;
        // llama.cpp reads these through their text, so 20.0 works there too; a fraction does not
        double d = Number(file, name, value);
        if (d != Math.Floor(d) || d < int.MinValue || d > int.MaxValue)
            throw Bad(file, name, value, "must be a whole number in the Int32 range");
        return (int)d;
    }

    private static double Number(GgufFile file, string name, GgufValue value)
    {
        try
        {
            return value.AsDouble();
        }
        catch (InvalidCastException)
        {
            throw Bad(file, name, value, $"must be a number, not {value.Type}");
        }
    }

    private static void Check(GgufFile file, string name, bool ok, string rule)
    {
        if (!ok && file.TryGetValue(Prefix + name, out var value))
            throw Bad(file, name, value, rule);
    }

    private static ModelLoadException Bad(GgufFile file, string name, GgufValue value, string rule) =>
        new(file.Path, string.Create(CultureInfo.InvariantCulture, $"metadata '{Prefix}{name}' is {Shown(value)}; it {rule}"));

    private static string Shown(GgufValue value) => value.Value switch
    {
        string s => s.Length <= 40 ? $"\"{s}\"" : $"\"{s[..40]}...\"",
        GgufArray a => $"an array of {a.Count}",
        _ => value.ToString(),
    };
}
