using System.Diagnostics;

namespace Tern.Tools.Mcp;

/// <summary>
/// A stdio MCP server running in the shell's bubblewrap sandbox: the system read-only, the workspace read-write
/// (HOME), a private /tmp, the environment cleared but for PATH, HOME, LANG, TMPDIR and the entry's <c>env</c>, the
/// shell's process and memory limits for the server's whole life, no network unless the entry says so, and its
/// stdout capped per message (<see cref="LineCappedStream"/>). Its stderr is drained and only its last few KiB kept,
/// for the log line when it dies. Disposing kills it and everything it started.
/// </summary>
internal sealed class McpProcess : IDisposable
{
    private const int KeptStderrBytes = 4096;

    private readonly Process _process;
    private readonly CommandCgroup? _cgroup;
    private readonly SeccompFilterFile? _filter;
    private readonly OutputCapture _stderr = new(KeptStderrBytes);
    private readonly Task _drained;
    private volatile string? _killedBecause;

    private McpProcess(Process process, CommandCgroup? cgroup, SeccompFilterFile? filter, int maxMessageBytes)
    {
        _process = process;
        _cgroup = cgroup;
        _filter = filter;
        Output = new LineCappedStream(process.StandardOutput.BaseStream, maxMessageBytes,
            () => Kill($"wrote a message longer than {maxMessageBytes} bytes"));
        _drained = DrainAsync(process.StandardError.BaseStream);
    }

    /// <summary>The server's stdin, where the client writes requests.</summary>
    public Stream Input => _process.StandardInput.BaseStream;

    /// <summary>The server's stdout, capped per message.</summary>
    public Stream Output { get; }

    public int Id => _process.Id;

    public bool HasExited => _killedBecause is not null || _process.HasExited;

    /// <summary>Starts <paramref name="config"/>'s command in the sandbox; an exception with a readable message when it cannot.</summary>
    public static async Task<McpProcess> StartAsync(McpServerConfig config, Sandbox sandbox, ShellOptions limits, string workspace, int maxMessageBytes)
    {
        var setup = sandbox.Current;
        if (setup.Error is not null)
        {
            throw new InvalidOperationException("stdio MCP servers run in the shell's sandbox, which is not available: " + setup.Error);
        }

        string workingDirectory = config.Cwd is null ? workspace : System.IO.Path.GetFullPath(System.IO.Path.Combine(workspace, config.Cwd));
        if (workingDirectory != workspace && !workingDirectory.StartsWith(workspace + "/", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"cwd {config.Cwd} is outside the workspace");
        }

        Directory.CreateDirectory(workingDirectory);
        var cgroup = sandbox.CreateCgroup(out string? cgroupError);
        var filter = cgroupError is null ? sandbox.SeccompFile(out cgroupError) : null;
        try
        {
            if (cgroupError is not null)
            {
                throw new InvalidOperationException(cgroupError);
            }

            var command = new SandboxCommand([config.Command!, .. config.Args], workspace, limits.FileSizeLimitBytes)
            {
                WorkingDirectory = workingDirectory,
                Network = config.Network,
                ReadOnlyPaths = config.ReadOnlyPaths,
                Environment = config.Env,
            };
            var argv = sandbox.CommandLine(setup, command, cgroup, filter);
            var process = new Process { StartInfo = Sandbox.StartInfo(argv, workspace) };
            await ProcessLauncher.StartAsync(process).ConfigureAwait(false);
            return new McpProcess(process, cgroup, filter, maxMessageBytes);
        }
        catch
        {
            cgroup?.Dispose();
            filter?.Dispose();
            throw;
        }
    }

    /// <summary>Why the server is gone: its exit code, or why Tern killed it; with the end of its stderr.</summary>
    public string DescribeExit()
    {
        string why = _killedBecause is { } reason ? $"was stopped because it {reason}"
            : _process.HasExited ? $"exited with code {_process.ExitCode}"
            : "stopped answering";
        string stderr = _stderr.TotalBytes == 0 ? "" : "; its last stderr: " + _stderr.Render().Trim().ReplaceLineEndings(" | ");
        return why + (stderr.Length > 600 ? stderr[..300] + " ... " + stderr[^300..] : stderr);
    }

    /// <summary>Waits a little for the process to end (a broken pipe is often seen just before the exit).</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan wait)
    {
        try
        {
            using var timeout = new CancellationTokenSource(wait);
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            await _drained.WaitAsync(timeout.Token).ConfigureAwait(false); // the stderr of its last words
        }
        catch (OperationCanceledException)
        {
        }

        return HasExited;
    }

    /// <summary>Kills the server and everything in its sandbox (the PID namespace dies with bwrap).</summary>
    public void Kill(string reason)
    {
        _killedBecause ??= reason;
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or AggregateException or System.ComponentModel.Win32Exception)
        {
            // exited meanwhile
        }

        _cgroup?.KillAll();
    }

    public void Dispose()
    {
        Kill("was closed by Tern");
        _cgroup?.Dispose();
        _filter?.Dispose();
        _process.Dispose();
    }

    private async Task DrainAsync(Stream stderr)
    {
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await stderr.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                _stderr.Append(buffer.AsSpan(0, read));
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // the process is gone
        }
    }
}
