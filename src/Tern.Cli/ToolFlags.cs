using System.CommandLine;
using Tern.Server;
using Tern.Tools;

namespace Tern.Cli;

/// <summary>
/// The built-in tools' flags, the same on `tern serve` and `tern mcp`: --tools [LIST], --workspace, --tool-timeout,
/// --audit-log, --unsafe-shell, --workspace-quota.
/// </summary>
internal static class ToolFlags
{
    /// <summary>
    /// Adds the flags to <paramref name="command"/>; returns what copies their values into a <see cref="ServerOptions"/>.
    /// Without --tools the selection is <paramref name="whenAbsent"/> (null: tools off); --tools alone means all.
    /// </summary>
    public static Func<ParseResult, ServerOptions, ServerOptions> AddTo(Command command, string? whenAbsent)
    {
        var tools = new Option<string?>("--tools")
        {
            Description = $"built-in tools: all (the default when given) or a list of {string.Join(",", ToolSet.KnownTools)}",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var workspace = new Option<string?>("--workspace") { Description = "directory the tools are confined to (default: the current directory)" };
        var toolTimeout = new Option<int>("--tool-timeout") { Description = "default shell timeout in seconds (max 60)", DefaultValueFactory = _ => 10 };
        var auditLog = new Option<string?>("--audit-log") { Description = "append every tool call to this file as JSON lines (outside the workspace)" };
        var unsafeShell = new Option<bool>("--unsafe-shell") { Description = "run the shell tool without the bubblewrap sandbox" };
        var workspaceQuota = new Option<string?>("--workspace-quota") { Description = "most disk the workspace may take, e.g. 1G, 512M or bytes (default: its size at start plus 1G)" };
        foreach (var option in new Option[] { tools, workspace, toolTimeout, auditLog, unsafeShell, workspaceQuota })
            command.Options.Add(option);
        return (parse, options) => options with
        {
            Tools = parse.GetResult(tools) is null ? whenAbsent : parse.GetValue(tools) ?? "all",
            Workspace = parse.GetValue(workspace),
            ToolTimeoutSeconds = ServeCommand.Check(parse.GetValue(toolTimeout), 1, 60, "--tool-timeout"),
            AuditLog = parse.GetValue(auditLog),
            UnsafeShell = parse.GetValue(unsafeShell),
            WorkspaceQuotaBytes = parse.GetValue(workspaceQuota) is { } quota ? ServeCommand.ParseSize(quota, "--workspace-quota") : null,
        };
    }
}
