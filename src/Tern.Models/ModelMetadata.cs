using Tern.Gguf;

namespace Tern.Models;

/// <summary>
/// Typed, range-checked reads of a model file's metadata. A value of the wrong type or out of range is a
/// <see cref="ModelLoadException"/> naming the file, the key and the value, so a hostile file is refused before
/// anything is sized by it.
/// </summary>
internal sealed class ModelMetadata(GgufFile file)
{
    public GgufFile File => file;

    public string? String(string key) => Read(key) switch
    {
        null => null,
        { Type: GgufValueType.String } v => v.AsString(),
        var v => throw WrongType(key, v, "a string"),
    };

    /// <summary>An integer between <paramref name="min"/> and <paramref name="max"/> (whose meaning
    /// <paramref name="maxMeaning"/> gives, when it comes from another value), or null when the key is absent.</summary>
    public int? Count(string key, int min, int max = int.MaxValue, string? maxMeaning = null)
    {
        if (Read(key) is not { } v)
            return null;
        if (!v.IsInteger)
            throw WrongType(key, v, "an integer");
        // AsInteger refuses only a UInt64 above long.MaxValue, which is out of range anyway
        long n = v.Value is ulong u && u > long.MaxValue ? long.MaxValue : v.AsInteger();
        if (n < min || n > max)
            throw Error(key, $"must be between {min} and {max}{Because(maxMeaning)}");
        return (int)n;
    }

    public int RequiredCount(string key, int min) => Count(key, min) ?? throw Missing(key);

    /// <summary>One integer per layer, each between <paramref name="min"/> and <paramref name="max"/>: an array of
    /// exactly <paramref name="layers"/> integers, or one integer for all layers (llama.cpp's get_key_or_arr); null
    /// when the key is absent.</summary>
    public int[]? PerLayerCounts(string key, int layers, int min, int max = int.MaxValue, string? maxMeaning = null)
    {
        if (Read(key) is not { Value: GgufArray a } v)
            return Count(key, min, max, maxMeaning) is { } n ? Enumerable.Repeat(n, layers).ToArray() : null;
        if (a.ElementType is GgufValueType.Float32 or GgufValueType.Float64 or GgufValueType.Bool or GgufValueType.String or GgufValueType.Array)
            throw WrongType(key, v, $"an integer or an array of {layers} integers");
        if (a.Count != layers)
            throw Error(key, $"has {a.Count} entries for {layers} layers");
        var counts = new int[layers];
        for (int i = 0; i < layers; i++)
        {
            long n = a.Items.GetValue(i) is ulong u ? (long)Math.Min(u, long.MaxValue) : Convert.ToInt64(a.Items.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
            if (n < min || n > max)
                throw Error(key, $"entry {i} is {n}: each must be between {min} and {max}{Because(maxMeaning)}");
            counts[i] = (int)n;
        }

        return counts;
    }

    /// <summary>One flag per layer: an array of exactly <paramref name="layers"/> booleans, or null when the key is absent.</summary>
    public bool[]? PerLayerFlags(string key, int layers)
    {
        if (Read(key) is not { } v)
            return null;
        if (v.Value is not GgufArray { ElementType: GgufValueType.Bool } a)
            throw WrongType(key, v, $"an array of {layers} booleans");
        if (a.Count != layers)
            throw Error(key, $"has {a.Count} entries for {layers} layers");
        return [.. (bool[])a.Items];
    }

    /// <summary>A finite float above 0 and below <paramref name="below"/>, or <paramref name="fallback"/> when the key is absent.</summary>
    public float Positive(string key, float fallback, float below = float.PositiveInfinity)
    {
        if (Read(key) is not { } v)
            return fallback;
        if (v.Type is not (GgufValueType.Float32 or GgufValueType.Float64))
            throw WrongType(key, v, "a float");
        float x = (float)v.AsDouble();
        if (!float.IsFinite(x) || x <= 0 || x >= below)
            throw Error(key, float.IsPositiveInfinity(below) ? "must be a finite number above 0" : $"must be above 0 and below {below}");
        return x;
    }

    /// <summary>Refuses <paramref name="key"/> unless <paramref name="size"/> (which it sets, as
    /// <paramref name="derivation"/> explains when not directly) is dimension <paramref name="dim"/> of the tensor,
    /// when the file has that tensor.</summary>
    public void MustMatch(string key, long size, string tensor, int dim, string? derivation = null)
    {
        if (file.TryGetTensor(tensor, out var t) && (t.Dimensions.Length <= dim || t.Dimensions[dim] != size))
            throw Error(key, (derivation is null ? "" : derivation + ", but ") + $"tensor {tensor} has shape {t.Shape}");
    }

    /// <summary>The problem with a key's value: "file: key = value: problem".</summary>
    public ModelLoadException Error(string key, string problem) => new(file.Path, $"{key} = {Shown(Read(key))}: {problem}");

    public ModelLoadException Missing(string key) => new(file.Path, $"{key} is missing");

    private GgufValue? Read(string key) => file.TryGetValue(key, out var v) ? v : null;

    private ModelLoadException WrongType(string key, GgufValue value, string wanted) =>
        Error(key, $"expected {wanted}, found {(value.Value is GgufArray a ? $"an array of {a.ElementType}" : value.Type)}");

    private static string Shown(GgufValue? value) => value switch
    {
        null => "(absent)",
        { Value: GgufArray a } => $"[{a.Count} items]",
        { Value: string s } => $"\"{string.Concat((s.Length <= 64 ? s : s[..64] + "...").Select(c => char.IsControl(c) ? '?' : c))}\"",
        _ => value.ToString(),
    };

    private static string Because(string? meaning) => meaning is null ? "" : $" ({meaning})";
}
