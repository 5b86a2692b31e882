namespace Tern.Tools.Mcp;

/// <summary>How Tern runs the MCP servers of <c>--mcp-config</c>; the defaults are <c>tern serve</c>'s.</summary>
public sealed record McpOptions
{
    /// <summary>The sandbox of the stdio servers: the shell's limits (processes, memory, file size, /tmp size); never unsafe.</summary>
    public ShellOptions Sandbox { get; init; } = ShellOptions.Default;

    /// <summary>How long one call may take before it fails (and the server, which may be stuck, is restarted).</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a server may take to start and answer the MCP handshake and the tool list.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Restarts in a row (crash, hang, flood) before the server is disabled for the rest of the run.</summary>
    public int MaxRestarts { get; init; } = 3;

    /// <summary>Wait before the first restart; it doubles with each one in a row.</summary>
    public TimeSpan RestartDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest JSON-RPC message (one line of stdout) a stdio server may write; past it the server is killed.</summary>
    public int MaxMessageBytes { get; init; } = 4 << 20;

    /// <summary>A call's result text given to the model; beyond it the middle is cut out (as with the shell's output).</summary>
    public int MaxResultBytes { get; init; } = 16 * 1024;

    /// <summary>Longest tool description passed to the model (it costs prompt tokens on every request).</summary>
    public int MaxDescriptionLength { get; init; } = 1024;
}
