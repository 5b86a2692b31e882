using System.Reflection;

namespace Tern.Testing;

/// <summary>
/// Locates the read-only reference data in <c>&lt;repo&gt;/../shared</c>. The repository root is stamped into each
/// test assembly at build time, so this works wherever the build output lives.
/// </summary>
internal static class SharedData
{
    private static readonly Lazy<string> Root = new(FindRoot);

    public static string Path(string relative) => System.IO.Path.Combine(Root.Value, relative);

    /// <summary>Every GGUF under a shared folder, in a stable order.</summary>
    public static string[] GgufFiles(string folder) =>
        Directory.GetFiles(Path(folder), "*.gguf").Order(StringComparer.Ordinal).ToArray();

    public static string[] Models() => GgufFiles("models");

    public static string[] VocabFiles() => GgufFiles("tokenizer");

    private static string FindRoot()
    {
        string? repo = typeof(SharedData).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "TernRepoRoot")?.Value;
        string candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(repo ?? ".", "..", "shared"));
        return Directory.Exists(System.IO.Path.Combine(candidate, "models"))
            ? candidate
            : throw new DirectoryNotFoundException($"test data not found: expected {candidate} (../shared beside the repository)");
    }
}
