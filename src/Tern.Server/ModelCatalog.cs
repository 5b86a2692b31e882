using System.Text.RegularExpressions;

namespace Tern.Server;

/// <summary>The GGUFs of a --models-dir, named as clients send them: the file name without <c>.gguf</c>.</summary>
public static partial class ModelCatalog
{
    /// <summary>
    /// Every GGUF directly in <paramref name="directory"/>, sorted by name. A split model (<c>NAME-00001-of-00003.gguf</c>
    /// and its siblings) is one entry named NAME whose path is the first part.
    /// </summary>
    public static IReadOnlyList<ModelEntry> FromDirectory(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"--models-dir {directory} does not exist");
        var models = new List<ModelEntry>();
        foreach (string file in Directory.EnumerateFiles(directory, "*.gguf").Order(StringComparer.Ordinal))
        {
            var split = SplitPart().Match(Path.GetFileName(file));
            if (!split.Success)
                models.Add(new ModelEntry(Path.GetFileNameWithoutExtension(file), file));
            else if (split.Groups["part"].Value.TrimStart('0') == "1")
                models.Add(new ModelEntry(split.Groups["name"].Value, file));
        }

        return models;
    }

    /// <summary>Whether <paramref name="path"/> is part 2 or later of a split GGUF (listed through its first part).</summary>
    public static bool IsLaterSplitPart(string path) =>
        SplitPart().Match(Path.GetFileName(path)) is { Success: true } m && m.Groups["part"].Value.TrimStart('0') != "1";

    /// <summary>The bytes of a model's file, all parts of a split one counted.</summary>
    public static long FileBytes(string path)
    {
        var split = SplitPart().Match(Path.GetFileName(path));
        if (!split.Success)
            return Length(path);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string name = split.Groups["name"].Value, count = split.Groups["count"].Value;
        return Directory.EnumerateFiles(directory, $"{name}-*-of-{count}.gguf").Sum(Length);
    }

    /// <summary>The size of the file, or of the file a symbolic link points to.</summary>
    private static long Length(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is null ? info.Length : ((FileInfo)info.ResolveLinkTarget(returnFinalTarget: true)!).Length;
    }

    [GeneratedRegex(@"^(?<name>.+)-(?<part>\d{5})-of-(?<count>\d{5})\.gguf$", RegexOptions.IgnoreCase)]
    private static partial Regex SplitPart();
}
