using System.Text;

namespace Tern.Tools;

/// <summary>
/// <c>write_file(path, content)</c>: creates or replaces a file with the given text, creating missing parent
/// directories inside the workspace. The write is atomic (temporary file in the same directory, then rename). A write
/// that would take the workspace over its quota (<see cref="WorkspaceQuota"/>) is refused.
/// </summary>
public sealed class WriteFileTool : Tool
{
    private readonly FileToolLimits _limits;

    public WriteFileTool(FileToolLimits? limits = null) => _limits = limits ?? FileToolLimits.Default;

    public override string Name => "write_file";

    public override string Description =>
        "Create or overwrite a text file. To change part of a file, use edit_file.";

    public override IReadOnlyList<ToolParameter> Parameters { get; } =
    [
        new("path", ToolParameterType.String, PathInWorkspace, Required: true),
        new("content", ToolParameterType.String, "", Required: true),
    ];

    protected override Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context)
    {
        string content = arguments.GetString("content");
        int size = Encoding.UTF8.GetByteCount(content);
        if (size > _limits.MaxWriteBytes)
        {
            return Task.FromResult(ToolResult.Failure($"content is {size} bytes; write_file accepts at most {_limits.MaxWriteBytes} bytes"));
        }

        var entry = context.Workspace.Resolve(arguments.GetString("path"));
        if (entry.Kind == WorkspaceEntryKind.Directory)
        {
            return Task.FromResult(ToolResult.Failure($"{entry.Shown} is a directory"));
        }

        long growth = size - (entry.Kind == WorkspaceEntryKind.File ? entry.Size : 0);
        context.Workspace.Quota.CheckGrowth(growth, Name, entry.Shown);
        bool created = context.Workspace.WriteAtomically(entry, Encoding.UTF8.GetBytes(content));
        context.Workspace.Quota.Charge(growth);
        return Task.FromResult(ToolResult.Success($"wrote {size} bytes to {entry.RelativePath} ({(created ? "new file" : "replaced")})"));
    }
}
