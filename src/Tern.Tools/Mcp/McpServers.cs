using System.Text.RegularExpressions;

namespace Tern.Tools.Mcp;

/// <summary>
/// The MCP servers of an <c>--mcp-config</c> file, started together at server start: their tools, named
/// <c>SERVER_TOOL</c>, join the built-in ones (<see cref="ToolSetOptions.AddedTools"/>). A server that cannot start,
/// or a tool whose name is not a valid tool name or is taken, is left out with a log line; Tern serves on.
/// </summary>
public sealed partial class McpServers : IAsyncDisposable
{
    private readonly List<McpConnection> _connections;

    private McpServers(List<McpConnection> connections, List<Tool> tools)
    {
        _connections = connections;
        Tools = tools;
    }

    public IReadOnlyList<McpConnection> Connections => _connections;

    public IReadOnlyList<Tool> Tools { get; }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex ToolName();

    /// <param name="workspace">The workspace directory: the servers' HOME and the one place they may write.</param>
    /// <param name="taken">Names already in use (the built-in tools).</param>
    public static async Task<McpServers> StartAsync(
        IReadOnlyList<McpServerConfig> configs, string workspace, McpOptions options, IReadOnlyCollection<string> taken, Action<string> log,
        CancellationToken cancellationToken = default)
    {
        string root = Posix.RealPath(System.IO.Path.GetFullPath(workspace), out int errno)
            ?? throw new ArgumentException($"workspace {workspace}: {Posix.Describe(errno)}", nameof(workspace));
        var sandbox = new Sandbox(options.Sandbox with { Unsafe = false });
        var connections = configs.Select(c => new McpConnection(c, options, sandbox, root, log)).ToList();
        var listings = await Task.WhenAll(connections.Select(async c =>
        {
            try
            {
                return await c.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                log($"mcp {c.Name}: NOT STARTED, its tools are left out: {e.Message}");
                return null;
            }
        })).ConfigureAwait(false);

        var names = new HashSet<string>(taken, StringComparer.Ordinal);
        var tools = new List<Tool>();
        for (int i = 0; i < connections.Count; i++)
        {
            if (listings[i] is not { } listed)
            {
                continue;
            }

            var added = new List<string>();
            foreach (var tool in listed)
            {
                string name = connections[i].Name + "_" + tool.Name;
                if (!ToolName().IsMatch(name) || !names.Add(name))
                {
                    log($"mcp {connections[i].Name}: tool '{tool.Name}' left out: {name} is {(ToolName().IsMatch(name) ? "taken" : "not a valid tool name (1-64 of A-Z a-z 0-9 _ -)")}");
                    continue;
                }

                tools.Add(new McpTool(connections[i], tool, options.MaxDescriptionLength));
                added.Add(name);
            }

            string where = configs[i].Url is { } url ? url.GetLeftPart(UriPartial.Path)
                : $"stdio, sandboxed, {(configs[i].Network ? "WITH network" : "no network")}";
            log($"mcp {connections[i].Name} ({where}): {added.Count} tools: {string.Join(", ", added)}");
        }

        return new McpServers(connections, tools);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
