namespace Tern.Cli.Hub;

/// <summary>`tern rm OWNER/NAME[:QUANT]`: deletes cached files of Tern's cache (never llama.cpp's), as `tern list` names them.</summary>
public static class ModelRemove
{
    /// <summary>Deletes the matching files and their `.partial` downloads; returns their paths. No match is an error listing the cache.</summary>
    public static IReadOnlyList<string> Remove(string reference)
    {
        var (repo, quant) = QuantPicker.ParseReference(reference);
        string cache = System.IO.Path.GetFullPath(ModelCache.Directory());
        string dir = System.IO.Path.GetFullPath(System.IO.Path.Combine(cache, repo));
        if (!dir.StartsWith(cache.TrimEnd(System.IO.Path.DirectorySeparatorChar) + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new HubException($"'{reference}' is outside the model cache {cache}");

        var matches = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Where(f => Model(f) is { } model && model.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)
                    && (quant is null || string.Equals(CachedModels.QuantOf(model), quant, StringComparison.OrdinalIgnoreCase)))
                .Order(StringComparer.Ordinal).ToList()
            : [];
        if (matches.Count == 0)
        {
            var cached = CachedModels.All().Where(m => !m.LlamaCpp).Select(m => m.Name).ToList();
            throw new HubException($"no cached model matches {reference}; cached: "
                + (cached.Count == 0 ? $"nothing (cache {cache})" : string.Join(", ", cached)));
        }

        foreach (string file in matches)
            File.Delete(file);
        for (string? folder = dir; folder is not null && folder.Length > cache.Length && !Directory.EnumerateFileSystemEntries(folder).Any();
             folder = System.IO.Path.GetDirectoryName(folder))
            Directory.Delete(folder);
        return matches;
    }

    /// <summary>The model file a cached file belongs to: itself, or the file a `.partial` download becomes.</summary>
    private static string? Model(string path) =>
        path.EndsWith(".partial", StringComparison.Ordinal) ? path[..^".partial".Length] : path;
}
