namespace Tern.Cli.Hub;

/// <summary>
/// Tern's model cache: `TERN_MODELS`, default `$XDG_CACHE_HOME/tern/models` or `~/.cache/tern/models`;
/// a file of repository OWNER/NAME is kept at `OWNER/NAME/FILE` (its download in progress at `FILE.partial`).
/// </summary>
public static class ModelCache
{
    public static string Directory()
    {
        if (Environment.GetEnvironmentVariable("TERN_MODELS") is { Length: > 0 } dir)
            return dir;
        string cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cache, "tern", "models");
    }

    public static string PathOf(string repo, HubFile file) => Path.Combine(Directory(), repo, file.Path);

    /// <summary>The complete files already downloaded from <paramref name="repo"/> (no hashes: they were checked on download).</summary>
    public static IReadOnlyList<HubFile> FilesOf(string repo)
    {
        string dir = Path.Combine(Directory(), repo);
        if (!System.IO.Directory.Exists(dir))
            return [];
        return System.IO.Directory.EnumerateFiles(dir, "*.gguf", SearchOption.AllDirectories)
            .Select(f => new HubFile(Path.GetRelativePath(dir, f).Replace('\\', '/'), new FileInfo(f).Length, null))
            .ToList();
    }
}
