namespace Tern.Cli;

/// <summary>
/// The embedded default model (stories260K, a real 260K-parameter TinyStories llama). GGUF files are memory-mapped,
/// so it is extracted once to the user's cache directory.
/// </summary>
public static class DefaultModel
{
    public const string ResourceName = "stories260K.gguf";

    public static string Path()
    {
        string dir = System.IO.Path.Combine(CacheDirectory(), "tern");
        string path = System.IO.Path.Combine(dir, ResourceName);
        using var resource = typeof(DefaultModel).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded model {ResourceName} is missing from this build");
        if (File.Exists(path) && new FileInfo(path).Length == resource.Length)
            return path;
        Directory.CreateDirectory(dir);
        string temp = $"{path}.tmp-{Environment.ProcessId}";
        using (var file = File.Create(temp))
            resource.CopyTo(file);
        File.Move(temp, path, overwrite: true);
        return path;
    }

    private static string CacheDirectory()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg))
            return xdg;
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home) ? System.IO.Path.GetTempPath() : System.IO.Path.Combine(home, ".cache");
    }
}
