using System.Globalization;
using System.Text.RegularExpressions;

namespace Tern.Gguf;

/// <summary>
/// Models split over several GGUF files as llama.cpp's gguf-split writes them: `NAME-00001-of-00003.gguf` and so on,
/// every part with <c>split.no</c> (u16, from 0), <c>split.count</c> (u16) and <c>split.tensors.count</c> (i32, the
/// tensors of all parts), its own tensor table and data; the model's metadata only in the first part.
/// </summary>
public static partial class GgufSplit
{
    public const string NumberKey = "split.no";
    public const string CountKey = "split.count";
    public const string TensorCountKey = "split.tensors.count";

    /// <summary>
    /// Opens a model's GGUF: a single file as <see cref="GgufFile.Open"/> does, or, when <paramref name="path"/> is
    /// any part of a split model, every part as one file: metadata from the first part, tensors from all of them.
    /// A missing part, or parts that do not belong together, is an error naming the file and what is wrong.
    /// </summary>
    public static GgufFile Open(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            int count = Number(file, CountKey) ?? 1;
            if (count <= 1)
                return file;
            int number = Number(file, NumberKey) ?? throw new GgufFormatException(path, $"{CountKey} is {count} but {NumberKey} is missing");
            if (number != 0)
            {
                string first = PartPath(path, count, number, 0);
                file.Dispose();
                file = GgufFile.Open(first);
                CheckPart(file, 0, count);
            }

            AttachParts(file, count);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The name of part <paramref name="index"/> (from 0) of <paramref name="count"/>, as gguf-split names them.</summary>
    public static string PartName(string prefix, int index, int count) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}-{index + 1:D5}-of-{count:D5}.gguf");

    /// <summary>`NAME-0000I-of-0000N.gguf` as (NAME with its directory, I - 1, N), or null for any other name.</summary>
    public static (string Prefix, int Index, int Count)? ParseName(string path)
    {
        var m = PartPattern().Match(path);
        return m.Success && int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) is var i and >= 1
            ? (m.Groups[1].Value, i - 1, int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture))
            : null;
    }

    [GeneratedRegex(@"^(.+)-(\d{5})-of-(\d{5})\.gguf$", RegexOptions.IgnoreCase)]
    private static partial Regex PartPattern();

    private static void AttachParts(GgufFile first, int count)
    {
        long total = first.GetInteger(TensorCountKey) ?? throw new GgufFormatException(first.Path, $"{CountKey} is {count} but {TensorCountKey} is missing");
        var others = new List<GgufFile>();
        try
        {
            var names = first.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            for (int i = 1; i < count; i++)
            {
                string path = PartPath(first.Path, count, 0, i);
                if (!File.Exists(path))
                    throw new FileNotFoundException($"{first.Path}: part {i + 1} of {count} of this split model is missing: {path} does not exist", path);
                var part = GgufFile.Open(path);
                others.Add(part);
                CheckPart(part, i, count);
                if (part.Tensors.FirstOrDefault(t => !names.Add(t.Name)) is { } twice)
                    throw new GgufFormatException(path, $"tensor '{twice.Name}' is in an earlier part too");
            }

            if (names.Count != total)
                throw new GgufFormatException(first.Path, $"{TensorCountKey} is {total}, but the {count} parts hold {names.Count} tensors");
            first.Attach(others);
        }
        catch
        {
            foreach (var part in others)
                part.Dispose();
            throw;
        }
    }

    /// <summary>The path of part <paramref name="index"/>, from the path of part <paramref name="given"/> (its name must follow gguf-split's).</summary>
    private static string PartPath(string path, int count, int given, int index)
    {
        if (ParseName(path) is not { } name || name.Index != given || name.Count != count)
            throw new GgufFormatException(path, $"is part {given + 1} of {count} of a split model, but its name does not end in {PartName("", given, count)}, so the other parts cannot be found");
        return PartName(name.Prefix, index, count);
    }

    private static void CheckPart(GgufFile part, int index, int count)
    {
        int? number = Number(part, NumberKey), partCount = Number(part, CountKey);
        if (partCount != count)
            throw new GgufFormatException(part.Path, $"{CountKey} is {Shown(partCount)}, but the split model has {count} parts");
        if (number != index)
            throw new GgufFormatException(part.Path, $"{NumberKey} is {Shown(number)}, but this is part {index + 1} (expected {index})");
    }

    private static string Shown(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "missing";

    private static int? Number(GgufFile file, string key)
    {
        long? value = file.GetInteger(key);
        return value is null ? null : value is >= 0 and <= ushort.MaxValue
            ? (int)value.Value : throw new GgufFormatException(file.Path, $"{key} is {value}, outside 0 to {ushort.MaxValue}");
    }

    /// <summary>
    /// Writes <paramref name="source"/> as a split model, as gguf-split does: parts of at most
    /// <paramref name="tensorsPerPart"/> tensors named <see cref="PartName"/>, the metadata in the first. Returns the paths.
    /// </summary>
    public static IReadOnlyList<string> Write(GgufFile source, string prefix, int tensorsPerPart)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tensorsPerPart, 1);
        var chunks = source.Tensors.Chunk(tensorsPerPart).ToList();
        var paths = new List<string>();
        for (int i = 0; i < chunks.Count; i++)
        {
            var writer = new GgufWriter(source.Version);
            if (i == 0)
            {
                foreach (var (key, value) in source.Metadata.Where(kv => !kv.Key.StartsWith("split.", StringComparison.Ordinal)))
                    writer.Add(key, value);
            }
            else if (source.TryGetValue("general.alignment", out var alignment))
            {
                writer.Add("general.alignment", alignment); // every part lays out its data the same way
            }

            writer.Add(NumberKey, GgufValue.From((ushort)i));
            writer.Add(CountKey, GgufValue.From((ushort)chunks.Count));
            writer.Add(TensorCountKey, GgufValue.From(source.Tensors.Count));
            foreach (var t in chunks[i])
                writer.AddTensor(t.Name, t.Dimensions, t.Type, s => GgufWriter.CopyTensor(source, t, s));
            string path = PartName(prefix, i, chunks.Count);
            writer.WriteFile(path);
            paths.Add(path);
        }
        return paths;
    }
}
