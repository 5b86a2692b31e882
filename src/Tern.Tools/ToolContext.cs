namespace Tern.Tools;

/// <summary>What a tool call runs against: the workspace, the clock, the request it belongs to and its cancellation.</summary>
public sealed class ToolContext
{
    public ToolContext(Workspace workspace, string requestId, TimeProvider? clock = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        ArgumentNullException.ThrowIfNull(requestId);
        Workspace = workspace;
        RequestId = requestId;
        Clock = clock ?? TimeProvider.System;
        CancellationToken = cancellationToken;
    }

    public Workspace Workspace { get; }

    public string RequestId { get; }

    public TimeProvider Clock { get; }

    public CancellationToken CancellationToken { get; }
}
