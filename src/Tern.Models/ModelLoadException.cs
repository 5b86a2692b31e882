namespace Tern.Models;

/// <summary>A GGUF file that is well-formed but is not a model Tern can run: names the file and what is wrong.</summary>
public sealed class ModelLoadException(string path, string problem) : Exception($"{path}: {problem}")
{
    public string FilePath { get; } = path;

    public string Problem { get; } = problem;
}
