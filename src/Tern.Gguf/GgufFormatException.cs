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

    /// <summary>A problem of the file as a whole (a split model's parts that do not fit together), at no one offset.</summary>
    public GgufFormatException(string filePath, string problem)
        : base($"{filePath}: {problem}")
    {
        FilePath = filePath;
        Offset = -1;
        Problem = problem;
    }

    public string FilePath { get; }

    public long Offset { get; }

    public string Problem { get; }
}
