using System.Text.Json;
using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>
/// A workspace directory and, beside it on the same file system, a directory outside the workspace (for links that
/// try to escape), with a <see cref="ToolSet"/> of every tool over the workspace.
/// </summary>
internal sealed class ToolHarness : IDisposable
{
    private readonly TempDirectory _root = new();

    public ToolHarness(FileToolLimits? files = null, ShellOptions? shell = null, string? auditLog = null, TimeProvider? clock = null, long? quota = null, string selection = "all")
    {
        Directory.CreateDirectory(Workspace);
        Directory.CreateDirectory(Outside);
        Tools = ToolSet.Create(selection, new ToolSetOptions
        {
            WorkspaceRoot = Workspace,
            Files = files ?? FileToolLimits.Default,
            Shell = shell ?? ShellOptions.Default,
            AuditLogPath = auditLog,
            Clock = clock ?? TimeProvider.System,
            WorkspaceQuotaBytes = quota,
        });
    }

    public string Workspace => Path.Combine(_root.FullPath, "ws");

    public string Outside => Path.Combine(_root.FullPath, "outside");

    public ToolSet Tools { get; }

    public string InWorkspace(string relative) => Path.Combine(Workspace, relative);

    public string InOutside(string relative) => Path.Combine(Outside, relative);

    public string WriteWorkspaceFile(string relative, string content)
    {
        string path = InWorkspace(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    public string WriteOutsideFile(string relative, string content)
    {
        string path = InOutside(relative);
        File.WriteAllText(path, content);
        return path;
    }

    public ToolResult Call(string tool, object arguments) =>
        Tools.Invoke(tool, JsonSerializer.Serialize(arguments), "test-request");

    public Task<ToolResult> CallAsync(string tool, object arguments) =>
        Tools.InvokeAsync(tool, JsonSerializer.Serialize(arguments), "test-request", TestContext.Current.CancellationToken);

    /// <summary>Files in the workspace directory tree, relative, sorted.</summary>
    public string[] WorkspaceFiles() =>
        Directory.GetFiles(Workspace, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Workspace, f)).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Bytes of all regular files in the workspace.</summary>
    public long WorkspaceBytes() => Directory.GetFiles(Workspace, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    /// <summary>Waits until the audit log holds every call made so far.</summary>
    public void FlushAuditLog() => Tools.AuditLog!.FlushAsync(TestContext.Current.CancellationToken).GetAwaiter().GetResult();

    public void Dispose()
    {
        Tools.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _root.Dispose();
    }
}
