namespace Tern.Tools;

/// <summary>
/// A tool call was refused by the sandbox: a path outside the workspace, through a symbolic or hard link, a device,
/// FIFO or socket, and so on. The message is written for the model to read: it names the path as the model gave it
/// and the reason, and never reveals where a link outside the workspace points.
/// </summary>
public sealed class ToolSandboxException : Exception
{
    public ToolSandboxException(string message)
        : base(message)
    {
    }

    public ToolSandboxException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
