namespace Tern.Gguf;

/// <summary>A GGUF file is malformed. The message names the file, the byte offset and the problem.</summary>
public sealed class GgufFormatException : Exception
{
    public GgufFormatException(string filePath, long offset, string problem)
        : base($"{filePath}: at byte {offset}: {problem}")
    {
        FilePath = filePath;
        Offset = offset;
        Problem = problem;
    }

    public string FilePath { get; }

    public long Offset { get; }

    public string Problem { get; }
}
