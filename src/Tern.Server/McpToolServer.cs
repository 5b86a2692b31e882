using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Tern.Tools;

namespace Tern.Server;

/// <summary>
/// The built-in tools offered to MCP clients, over stdio (<c>tern mcp</c>) or streamable HTTP (<c>/mcp</c> on
/// <c>tern serve --tools</c>): <c>tools/list</c> gives every tool of the <see cref="ToolSet"/> (name, description,
/// input schema) and <c>tools/call</c> runs it through <see cref="ToolSet.InvokeAsync(string, string?, string, CancellationToken)"/>,
/// so a call is validated, confined to the workspace and audited exactly as a model's call is. The output comes back as
/// text content; a failed call (refused path, bad arguments, failing command) is a result with <c>isError</c> true.
/// </summary>
public static class McpToolServer
{
    /// <summary>Sets <paramref name="options"/> up to serve <paramref name="tools"/> (the handlers and the tools capability).</summary>
    public static void Configure(McpServerOptions options, ToolSet tools)
    {
        var listed = new ListToolsResult { Tools = [.. tools.Tools.Select(Describe)] };
        options.ServerInfo = new Implementation { Name = "tern", Version = typeof(McpToolServer).Assembly.GetName().Version?.ToString(3) ?? "0.0.0" };
        options.ServerInstructions = $"File and shell tools confined to the workspace {tools.Workspace.Root}; paths are relative to it.";
        options.Capabilities = new ServerCapabilities { Tools = new ToolsCapability() };
        options.Handlers.ListToolsHandler = (_, _) => ValueTask.FromResult(listed);
        options.Handlers.CallToolHandler = (request, cancellation) => CallAsync(tools, request.Params, cancellation);
    }

    /// <summary>Serves <paramref name="tools"/> on this process's stdin and stdout until the client closes stdin or <paramref name="cancellation"/> fires.</summary>
    public static async Task RunStdioAsync(ToolSet tools, CancellationToken cancellation)
    {
        var options = new McpServerOptions();
        Configure(options, tools);
        await using var transport = new StdioServerTransport(options);
        await using var server = McpServer.Create(transport, options);
        await server.RunAsync(cancellation);
    }

    /// <summary>The MCP description of a tool: its OpenAI schema's parameters are the input schema.</summary>
    private static ModelContextProtocol.Protocol.Tool Describe(Tern.Tools.Tool tool) => new()
    {
        Name = tool.Name,
        Description = tool.Description,
        InputSchema = tool.Schema.GetProperty("function").GetProperty("parameters"),
    };

    private static async ValueTask<CallToolResult> CallAsync(ToolSet tools, CallToolRequestParams? call, CancellationToken cancellation)
    {
        string name = call?.Name ?? "";
        string arguments = call?.Arguments is { } given ? JsonSerializer.Serialize(given) : "{}";
        var result = await tools.InvokeAsync(name, arguments, "mcp-" + Guid.NewGuid().ToString("N"), cancellation);
        return new CallToolResult { Content = [new TextContentBlock { Text = result.Output }], IsError = !result.Ok };
    }
}
