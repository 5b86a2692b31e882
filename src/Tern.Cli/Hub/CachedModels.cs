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

    public static IReadOnlyList<CachedModel> All()
    {
        var models = new List<CachedModel>();
        string tern = ModelCache.Directory();
        if (Directory.Exists(tern))
        {
            foreach (string file in Directory.EnumerateFiles(tern, "*.gguf", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                string relative = System.IO.Path.GetRelativePath(tern, file).Replace('\\', '/');
                string[] parts = relative.Split('/');
                string repo = parts.Length >= 3 ? $"{parts[0]}/{parts[1]}" : System.IO.Path.GetDirectoryName(relative) ?? "";
                models.Add(Read(file, $"{repo}:{QuantOf(file)}", llamaCpp: false));
            }
        }

        string llama = LlamaCppDirectory();
        if (Directory.Exists(llama))
        {
            foreach (string file in Directory.EnumerateFiles(llama, "*.gguf").Order(StringComparer.Ordinal))
                models.Add(Read(file, $"{LlamaCppRepo(file)}:{QuantOf(file)}", llamaCpp: true));
        }
        return models;
    }

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

    private static CachedModel Read(string path, string name, bool llamaCpp)
    {
        var info = new FileInfo(path);
        var lastUsed = info.LastAccessTimeUtc > info.LastWriteTimeUtc ? info.LastAccessTimeUtc : info.LastWriteTimeUtc;
        try
        {
            using var gguf = GgufFile.Open(path);
            string? architecture = gguf.GetString("general.architecture");
            long? context = architecture is null ? null : gguf.GetInteger($"{architecture}.context_length");
            return new CachedModel(name, path, info.Length, architecture, context, lastUsed, llamaCpp, null);
        }
        catch (Exception e) when (e is GgufFormatException or IOException or InvalidDataException or InvalidCastException or ArgumentException)
        {
            return new CachedModel(name, path, info.Length, null, null, lastUsed, llamaCpp, e.Message.ReplaceLineEndings(" "));
        }
    }
}
