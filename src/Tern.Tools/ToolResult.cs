using System.Text;

namespace Tern.Tools;

/// <summary>
/// What a tool call produced. <see cref="Output"/> is the text to give the model as the tool message either way:
/// the tool's output on success, <c>error: ...</c> (possibly with partial output, e.g. a shell command that timed
/// out) on failure. <see cref="Error"/> is the bare reason for logs and APIs.
/// </summary>
public sealed class ToolResult
{
    private ToolResult(bool ok, string output, string? error)
    {
        Ok = ok;
        Output = output;
        Error = error;
    }

    public bool Ok { get; }

    public string Output { get; }

    /// <summary>Why the call failed, or null when it succeeded.</summary>
    public string? Error { get; }

    /// <summary>UTF-8 bytes of <see cref="Output"/>.</summary>
    public int Bytes => Encoding.UTF8.GetByteCount(Output);

    public static ToolResult Success(string output) => new(true, output, null);

    public static ToolResult Failure(string error) => new(false, "error: " + error, error);

    /// <summary>A failure that still has output worth showing (the output should say what went wrong).</summary>
    public static ToolResult Failure(string error, string output) => new(false, output, error);

    public override string ToString() => Output;
}
