using System.Globalization;
using Tern.Gguf;

namespace Tern.Runtime.Sampling;

/// <summary>Per-model-family sampling defaults, and a one-line summary of a parameter set for <c>tern info</c>.</summary>
public static class DefaultSampling
{
    /// <summary>llama.cpp's default temperature, for every family not listed below.</summary>
    public const float FallbackTemperature = 0.8f;

    // Keyed by GGUF general.architecture; the vendors recommend lower temperatures than llama.cpp's default.
    private static readonly Dictionary<string, float> ByArchitecture = new(StringComparer.OrdinalIgnoreCase)
    {
        ["qwen2"] = 0.7f,
        ["qwen3"] = 0.7f,
        ["qwen2moe"] = 0.7f,
        ["qwen3moe"] = 0.7f,
        ["gemma"] = 0.6f,
        ["gemma2"] = 0.6f,
        ["gemma3"] = 0.6f,
    };

    // Newer variants (qwen35moe, gemma3n, ...) and models whose general.name betrays the family.
    private static readonly (string Family, float Temperature)[] ByFamily = [("qwen", 0.7f), ("gemma", 0.6f)];

    /// <summary>
    /// llama.cpp's defaults with the temperature of the model's family: looked up by architecture, then by a
    /// family prefix of the architecture, then by a family name inside <paramref name="modelName"/>.
    /// </summary>
    public static SamplingParams For(string architecture, string? modelName = null) =>
        new() { Temperature = TemperatureFor(architecture, modelName) };

    /// <summary>
    /// The defaults for a model file: its family's (<see cref="For(string, string?)"/>), then what the file itself
    /// recommends in <c>general.sampling.*</c> (<see cref="RecommendedSampling"/>), which wins.
    /// </summary>
    public static SamplingParams For(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var family = For(file.GetString("general.architecture") ?? "", file.GetString("general.name"));
        return RecommendedSampling.Apply(file, family);
    }

    public static float TemperatureFor(string architecture, string? modelName = null)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        if (ByArchitecture.TryGetValue(architecture, out float t))
            return t;
        foreach (var (family, temperature) in ByFamily)
        {
            if (architecture.StartsWith(family, StringComparison.OrdinalIgnoreCase))
                return temperature;
        }
        foreach (var (family, temperature) in ByFamily)
        {
            if (modelName?.Contains(family, StringComparison.OrdinalIgnoreCase) == true)
                return temperature;
        }
        return FallbackTemperature;
    }

    /// <summary>A short summary such as "temp 0.8, top-k 40, top-p 0.95, min-p 0.05, repeat-penalty 1.0".</summary>
    public static string Describe(SamplingParams p)
    {
        ArgumentNullException.ThrowIfNull(p);
        var parts = new List<string>
        {
            p.IsGreedy ? "temp 0 (greedy)" : $"temp {Number(p.Temperature)}",
            p.TopK == 0 ? "top-k off" : $"top-k {p.TopK}",
            p.TopP >= 1 ? "top-p off" : $"top-p {Number(p.TopP)}",
            p.MinP <= 0 ? "min-p off" : $"min-p {Number(p.MinP)}",
            $"repeat-penalty {Number(p.RepeatPenalty)}",
        };
        bool penalised = p.RepeatPenalty != 1 || p.PresencePenalty != 0 || p.FrequencyPenalty != 0;
        if (penalised)
            parts.Add(p.RepeatLastN == -1 ? "repeat-last-n all" : $"repeat-last-n {p.RepeatLastN}");
        if (p.PresencePenalty != 0)
            parts.Add($"presence-penalty {Number(p.PresencePenalty)}");
        if (p.FrequencyPenalty != 0)
            parts.Add($"frequency-penalty {Number(p.FrequencyPenalty)}");
        if (p.LogitBias.Count > 0)
            parts.Add($"logit-bias {p.LogitBias.Count} tokens");
        if (p.Seed is { } seed)
            parts.Add($"seed {seed}");
        return string.Join(", ", parts);
    }

    private static string Number(float value) => value.ToString("0.0##", CultureInfo.InvariantCulture);
}
