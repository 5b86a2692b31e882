using System.Text.RegularExpressions;
using Tern.Gguf;

namespace Tern.Cli.Hub;

/// <summary>A GGUF found in Tern's model cache or llama.cpp's; <see cref="Error"/> says why its header could not be read.</summary>
public sealed record CachedModel(string Name, string Path, long Size, string? Architecture, long? Context, DateTime LastUsedUtc, bool LlamaCpp, string? Error);

/// <summary>The GGUFs in Tern's model cache (`OWNER/NAME/FILE`) and in llama.cpp's (`LLAMA_CACHE`, flat `OWNER_NAME_FILE.gguf`).</summary>
public static class CachedModels
{
    /// <summary>llama.cpp's cache: `LLAMA_CACHE`, default `~/.cache/llama.cpp`.</summary>
    public static string LlamaCppDirectory() =>
        Environment.GetEnvironmentVariable("LLAMA_CACHE") is { Length: > 0 } dir
            ? dir : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "llama.cpp");

    /// <summary>Every cached model; the parts of a split model are one entry (the first part's path, the parts' sizes summed).</summary>
    public static IReadOnlyList<CachedModel> All()
    {
        var models = new List<CachedModel>();
        string tern = ModelCache.Directory();
        if (Directory.Exists(tern))
        {
            foreach (var files in Models(Directory.EnumerateFiles(tern, "*.gguf", SearchOption.AllDirectories)))
            {
                string relative = System.IO.Path.GetRelativePath(tern, files[0]).Replace('\\', '/');
                string[] parts = relative.Split('/');
                string repo = parts.Length >= 3 ? $"{parts[0]}/{parts[1]}" : System.IO.Path.GetDirectoryName(relative) ?? "";
                models.Add(Read(files, $"{repo}:{QuantOf(files[0])}", llamaCpp: false));
            }
        }

        string llama = LlamaCppDirectory();
        if (Directory.Exists(llama))
        {
            foreach (var files in Models(Directory.EnumerateFiles(llama, "*.gguf")))
                models.Add(Read(files, $"{LlamaCppRepo(files[0])}:{QuantOf(files[0])}", llamaCpp: true));
        }
        return models;
    }

    /// <summary>The files grouped by model, in path order: one file, or the parts present of a split model.</summary>
    private static IEnumerable<List<string>> Models(IEnumerable<string> files) => files.Order(StringComparer.Ordinal)
        .GroupBy(f => GgufSplit.ParseName(f) is { } part ? $"{part.Prefix}-of-{part.Count}" : f)
        .Select(g => g.ToList());

    /// <summary>The quant tag a file name carries (the last one, upper-cased, e.g. Q4_K_M, IQ4_XS, BF16), else the name itself.</summary>
    public static string QuantOf(string path)
    {
        string name = System.IO.Path.GetFileNameWithoutExtension(path);
        var tags = Regex.Matches(name, @"(?<![A-Za-z0-9])(I?Q\d+(_[A-Za-z0-9]+)*|TQ\d_\d|MXFP4|BF16|F16|F32)(?![A-Za-z0-9])", RegexOptions.IgnoreCase);
        return tags.Count > 0 ? tags[^1].Value.ToUpperInvariant() : name;
    }

    /// <summary>`OWNER_NAME_FILE.gguf` (llama.cpp's flat naming) as OWNER/NAME; the file name when it does not split.</summary>
    private static string LlamaCppRepo(string path)
    {
        string[] parts = System.IO.Path.GetFileNameWithoutExtension(path).Split('_', 3);
        return parts.Length == 3 ? $"{parts[0]}/{parts[1]}" : System.IO.Path.GetFileNameWithoutExtension(path);
    }

    private static CachedModel Read(List<string> files, string name, bool llamaCpp)
    {
        string path = files[0];
        var infos = files.Select(f => new FileInfo(f)).ToList();
        long size = infos.Sum(i => i.Length);
        var lastUsed = infos.Max(i => i.LastAccessTimeUtc > i.LastWriteTimeUtc ? i.LastAccessTimeUtc : i.LastWriteTimeUtc);
        try
        {
            using var gguf = GgufSplit.Open(path);
            string? architecture = gguf.GetString("general.architecture");
            long? context = architecture is null ? null : gguf.GetInteger($"{architecture}.context_length");
            return new CachedModel(name, gguf.Path, size, architecture, context, lastUsed, llamaCpp, null);
        }
        catch (Exception e) when (e is GgufFormatException or IOException or InvalidDataException or InvalidCastException or ArgumentException)
        {
            return new CachedModel(name, path, size, null, null, lastUsed, llamaCpp, e.Message.ReplaceLineEndings(" "));
        }
    }
}
