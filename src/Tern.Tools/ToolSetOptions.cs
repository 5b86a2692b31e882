namespace Tern.Tools;

/// <summary>Everything <see cref="ToolSet.Create"/> needs; the defaults match <c>tern serve --tools</c>.</summary>
public sealed record ToolSetOptions
{
    /// <summary>The workspace directory; null means the current directory.</summary>
    public string? WorkspaceRoot { get; init; }

    /// <summary>The clock of the time tool and of the audit log.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Where to append one JSON line per call (outside the workspace); null for no audit log.</summary>
    public string? AuditLogPath { get; init; }

    /// <summary>Hears of trouble met while serving calls (the audit log's first failed write); null: nobody.</summary>
    public Action<string>? Report { get; init; }

    public FileToolLimits Files { get; init; } = FileToolLimits.Default;

    public ShellOptions Shell { get; init; } = ShellOptions.Default;

    /// <summary>
    /// The most disk the workspace may take (see <see cref="WorkspaceQuota"/>); null for what it takes at start plus
    /// <see cref="WorkspaceQuota.DefaultGrowthBytes"/> (1 GiB).
    /// </summary>
    public long? WorkspaceQuotaBytes { get; init; }

    /// <summary>Tool calls that may run at once, across all requests; further calls wait for a slot.</summary>
    public int MaxConcurrentCalls { get; init; } = ToolSet.DefaultMaxConcurrentCalls;

    /// <summary>Tools added after the built-in ones (the MCP servers' tools, see <see cref="Mcp.McpServers"/>).</summary>
    public IReadOnlyList<Tool> AddedTools { get; init; } = [];

    /// <summary>How long a call waits for a slot before it fails.</summary>
    public TimeSpan CallSlotWait { get; init; } = ToolSet.DefaultCallSlotWait;
}
