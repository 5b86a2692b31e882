using System.Text;

namespace Tern.Tools;

/// <summary>
/// <c>read_file(path, start_line?, end_line?)</c>: a text file's content, whole or a 1-based inclusive line range.
/// The output is capped at <see cref="FileToolLimits.MaxReadOutputBytes"/>; when it is cut, or a range was asked
/// for, a last line in brackets says which lines were shown out of how many and where to continue.
/// </summary>
public sealed class ReadFileTool : Tool
{
    private readonly FileToolLimits _limits;

    public ReadFileTool(FileToolLimits? limits = null) => _limits = limits ?? FileToolLimits.Default;

    public override string Name => "read_file";

    public override string Description =>
        "Read a text file, whole or a line range.";

    public override IReadOnlyList<ToolParameter> Parameters { get; } =
    [
        new("path", ToolParameterType.String, PathInWorkspace, Required: true),
        new("start_line", ToolParameterType.Integer, "1-based.") { Minimum = 1 },
        new("end_line", ToolParameterType.Integer, "Inclusive.") { Minimum = 1 },
    ];

    protected override Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context) =>
        Task.FromResult(Read(arguments, context.Workspace));

    private ToolResult Read(ToolArguments arguments, Workspace workspace)
    {
        var entry = workspace.Resolve(arguments.GetString("path"));
        switch (entry.Kind)
        {
            case WorkspaceEntryKind.Missing:
                return ToolResult.Failure($"{entry.Shown} does not exist");
            case WorkspaceEntryKind.Directory:
                return ToolResult.Failure($"{entry.Shown} is a directory; read_file reads files (grep searches a directory's files)");
        }

        byte[] bytes = TextFile.ReadBytes(workspace, entry, _limits.MaxReadFileBytes, "read_file");
        string text = TextFile.Decode(bytes, entry, Name, out _);
        int total = TextFile.CountLines(text);
        long? startArgument = arguments.GetOptionalInteger("start_line");
        long? endArgument = arguments.GetOptionalInteger("end_line");
        bool ranged = startArgument is not null || endArgument is not null;
        if (total == 0)
        {
            return ranged && startArgument > 1
                ? ToolResult.Failure($"start_line {startArgument} is past the end of {entry.Shown}, which is empty")
                : ToolResult.Success("[empty file]");
        }

        long start = startArgument ?? 1;
        long end = Math.Min(endArgument ?? total, total);
        if (start > total)
        {
            return ToolResult.Failure($"start_line {start} is past the end of {entry.Shown}, which has {total} lines");
        }

        if (endArgument < start)
        {
            return ToolResult.Failure($"end_line {endArgument} is before start_line {start}");
        }

        var output = new StringBuilder();
        int position = LineOffset(text, (int)start);
        long line = start;
        long bytesOut = 0;
        bool cut = false;
        while (line <= end)
        {
            int newline = text.IndexOf('\n', position);
            int next = newline < 0 ? text.Length : newline + 1;
            long lineBytes = Encoding.UTF8.GetByteCount(text.AsSpan(position, next - position));
            if (bytesOut + lineBytes > _limits.MaxReadOutputBytes)
            {
                cut = true;
                if (line == start)
                {
                    // A single line longer than the cap: show its beginning rather than nothing.
                    output.Append(Prefix(text.AsSpan(position, next - position), _limits.MaxReadOutputBytes));
                    line++;
                }

                break;
            }

            output.Append(text, position, next - position);
            bytesOut += lineBytes;
            position = next;
            line++;
        }

        long last = line - 1;
        if (cut)
        {
            string partial = last >= start && bytesOut == 0 ? " (only the beginning of that line)" : "";
            string more = last < total ? $"; continue with start_line={last + 1}" : "";
            AppendNote(output, $"truncated at {_limits.MaxReadOutputBytes} bytes: showed lines {start}-{last}{partial} of {total}{more}");
        }
        else if (ranged)
        {
            AppendNote(output, $"lines {start}-{last} of {total}");
        }

        return ToolResult.Success(output.ToString());
    }

    private static int LineOffset(string text, int line)
    {
        int position = 0;
        for (int i = 1; i < line; i++)
        {
            position = text.IndexOf('\n', position) + 1;
        }

        return position;
    }

    /// <summary>The longest prefix of <paramref name="text"/> that fits in <paramref name="maxBytes"/> UTF-8 bytes.</summary>
    internal static string Prefix(ReadOnlySpan<char> text, long maxBytes)
    {
        long bytes = 0;
        int i = 0;
        while (i < text.Length)
        {
            int width = char.IsHighSurrogate(text[i]) && i + 1 < text.Length ? 2 : 1;
            int size = Encoding.UTF8.GetByteCount(text.Slice(i, width));
            if (bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            i += width;
        }

        return text[..i].ToString();
    }
}
