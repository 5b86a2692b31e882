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

    /// <summary>A file of the repository itself (reference data the tests keep beside them, e.g. tests/Tern.Models.Tests/embeddings).</summary>
    public static string Repository(string relative) => System.IO.Path.Combine(RepositoryRoot(), relative);

    /// <summary>Every GGUF under a shared folder, in a stable order.</summary>
    public static string[] GgufFiles(string folder) =>
        Directory.GetFiles(Path(folder), "*.gguf").Order(StringComparer.Ordinal).ToArray();

    public static string[] Models() => GgufFiles("models");

    public static string[] VocabFiles() => GgufFiles("tokenizer");

    private static string RepositoryRoot() => typeof(SharedData).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "TernRepoRoot")?.Value ?? ".";

    private static string FindRoot()
    {
        string candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(RepositoryRoot(), "..", "shared"));
        return Directory.Exists(System.IO.Path.Combine(candidate, "models"))
            ? candidate
            : throw new DirectoryNotFoundException($"test data not found: expected {candidate} (../shared beside the repository)");
    }
}
