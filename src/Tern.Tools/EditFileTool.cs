using System.Text;

namespace Tern.Tools;

/// <summary>
/// <c>edit_file(path, old_text, new_text)</c>: replaces the one occurrence of <c>old_text</c> and returns a short
/// unified diff. When <c>old_text</c> occurs zero or several times nothing changes and the error says how many times
/// (and on which lines). Files with CRLF line endings accept <c>old_text</c>/<c>new_text</c> written with plain LF.
/// The write is atomic, like write_file's, and a UTF-8 byte order mark is kept; an edit that would take the workspace
/// over its quota is refused.
/// </summary>
public sealed class EditFileTool : Tool
{
    private const int MaxLinesListed = 10;

    private readonly FileToolLimits _limits;

    public EditFileTool(FileToolLimits? limits = null) => _limits = limits ?? FileToolLimits.Default;

    public override string Name => "edit_file";

    public override string Description =>
        "Replace old_text, which must occur exactly once in the file, with new_text. Returns a diff.";

    public override IReadOnlyList<ToolParameter> Parameters { get; } =
    [
        new("path", ToolParameterType.String, PathInWorkspace, Required: true),
        new("old_text", ToolParameterType.String, "Exact text, with enough context to be unique.", Required: true),
        new("new_text", ToolParameterType.String, "", Required: true),
    ];

    protected override Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context) =>
        Task.FromResult(Edit(arguments, context.Workspace));

    private ToolResult Edit(ToolArguments arguments, Workspace workspace)
    {
        string oldText = arguments.GetString("old_text");
        string newText = arguments.GetString("new_text");
        if (oldText.Length == 0)
        {
            return ToolResult.Failure("old_text is empty; to create or overwrite a whole file use write_file");
        }

        if (oldText == newText)
        {
            return ToolResult.Failure("old_text and new_text are identical; nothing to change");
        }

        var entry = workspace.Resolve(arguments.GetString("path"));
        switch (entry.Kind)
        {
            case WorkspaceEntryKind.Missing:
                return ToolResult.Failure($"{entry.Shown} does not exist (create it with write_file)");
            case WorkspaceEntryKind.Directory:
                return ToolResult.Failure($"{entry.Shown} is a directory");
        }

        byte[] bytes = TextFile.ReadBytes(workspace, entry, _limits.MaxEditFileBytes, "edit_file");
        string text = TextFile.Decode(bytes, entry, Name, out bool byteOrderMark);
        var found = Occurrences(text, oldText);
        if (found.Count == 0 && text.Contains("\r\n", StringComparison.Ordinal) && oldText.Contains('\n', StringComparison.Ordinal)
            && !oldText.Contains('\r', StringComparison.Ordinal))
        {
            oldText = oldText.Replace("\n", "\r\n", StringComparison.Ordinal);
            newText = newText.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
            found = Occurrences(text, oldText);
        }

        if (found.Count == 0)
        {
            return ToolResult.Failure(
                $"old_text was not found in {entry.Shown}; it must match exactly, including whitespace, indentation and line breaks (read the file again and copy the text)");
        }

        if (found.Count > 1)
        {
            var lines = found.First.Select(i => LineOf(text, i).ToString(System.Globalization.CultureInfo.InvariantCulture));
            string more = found.Count > MaxLinesListed ? ", ..." : "";
            return ToolResult.Failure(
                $"old_text occurs {found.Count} times in {entry.Shown} (at lines {string.Join(", ", lines)}{more}); include more surrounding text so that it occurs exactly once");
        }

        int index = found.First[0];
        string edited = string.Concat(text.AsSpan(0, index), newText, text.AsSpan(index + oldText.Length));
        byte[] output = TextFile.Encode(edited, byteOrderMark);
        if (output.Length > _limits.MaxWriteBytes)
        {
            return ToolResult.Failure($"the edited file would be {output.Length} bytes; edit_file writes at most {_limits.MaxWriteBytes} bytes");
        }

        long growth = output.Length - bytes.Length;
        workspace.Quota.CheckGrowth(growth, Name, entry.Shown);
        workspace.WriteAtomically(entry, output);
        workspace.Quota.Charge(growth);
        var result = new StringBuilder();
        result.Append("edited ").Append(entry.RelativePath).Append(": replaced 1 occurrence at line ").Append(LineOf(text, index)).Append('\n');
        result.Append(UnifiedDiff.ForReplacement(entry.RelativePath, text, index, oldText.Length, newText));
        return ToolResult.Success(result.ToString());
    }

    /// <summary>
    /// How often <paramref name="needle"/> occurs, overlapping occurrences included ("aa" occurs twice in "aaa"), and
    /// where the first few start. Knuth-Morris-Pratt, so the time is linear even for a hostile needle such as
    /// <c>aaa…ab</c> in a file of <c>a</c>s, where repeated IndexOf would be quadratic.
    /// </summary>
    internal static (int Count, List<int> First) Occurrences(string text, string needle)
    {
        var fallback = new int[needle.Length];
        for (int i = 1, k = 0; i < needle.Length; i++)
        {
            while (k > 0 && needle[i] != needle[k])
            {
                k = fallback[k - 1];
            }

            if (needle[i] == needle[k])
            {
                k++;
            }

            fallback[i] = k;
        }

        var first = new List<int>();
        int count = 0;
        for (int i = 0, k = 0; i < text.Length; i++)
        {
            while (k > 0 && text[i] != needle[k])
            {
                k = fallback[k - 1];
            }

            if (text[i] == needle[k] && ++k == needle.Length)
            {
                if (count++ < MaxLinesListed)
                {
                    first.Add(i - needle.Length + 1);
                }

                k = fallback[k - 1];
            }
        }

        return (count, first);
    }

    internal static int LineOf(string text, int index) => text.AsSpan(0, index).Count('\n') + 1;
}
