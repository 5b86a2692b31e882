using System.CommandLine;
using Tern.Server;

namespace Tern.Cli;

/// <summary>
/// `tern mcp [--tools LIST] [--workspace DIR] [--tool-timeout S] [--audit-log FILE] [--unsafe-shell] [--workspace-quota SIZE]`:
/// the built-in tools as an MCP server on stdin/stdout, for a coding assistant or an IDE, confined to the workspace as
/// under `tern serve --tools`. Stdout carries the protocol only; everything else goes to stderr.
/// </summary>
public static class McpCommand
{
    public static Command Create(TextWriter stderr)
    {
        var command = new Command("mcp", "Offer the built-in tools (all unless --tools lists some) to an MCP client over stdin/stdout, confined to the workspace.");
        var toolFlags = ToolFlags.AddTo(command, whenAbsent: "all");
        command.SetAction(async (parse, cancellation) =>
        {
            var options = toolFlags(parse, new ServerOptions());
            await using var tools = TernServer.OpenTools(options, stderr);
            stderr.WriteLine("mcp: serving the tools on stdin/stdout");
            await McpToolServer.RunStdioAsync(tools, cancellation);
            return 0;
        });
        return command;
    }
}
