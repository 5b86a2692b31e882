using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Tern.Tools;

/// <summary>How the shell tool bounds the number of processes a command may start.</summary>
public enum ProcessLimitMode
{
    /// <summary>No count limit (unsafe mode, or root without a usable pids cgroup): only the timeout and, in the sandbox, the PID namespace bound it.</summary>
    None,

    /// <summary>RLIMIT_NPROC inside the sandbox's user namespace (the server is not root).</summary>
    Rlimit,

    /// <summary>A pids cgroup per command (the server is root, which RLIMIT_NPROC does not bind).</summary>
    Cgroup,
}

/// <summary>How the shell tool bounds the memory of a command (see <see cref="ShellOptions.MemoryLimitBytes"/>).</summary>
public enum MemoryLimitMode
{
    /// <summary>RLIMIT_AS of the whole limit on each process, and nothing bounds their number: the total is unbounded.</summary>
    PerProcess,

    /// <summary>RLIMIT_AS of the limit divided by the process limit on each process, so all of them stay within it.</summary>
    Divided,

    /// <summary>A memory cgroup per command holds all its processes (swap included).</summary>
    Cgroup,
}

/// <summary>
/// <c>shell(command, timeout?)</c>: runs <c>sh -c command</c> in the workspace under bubblewrap and returns its
/// combined stdout and stderr (capped at <see cref="ShellOptions.MaxOutputBytes"/>, the middle cut out with a
/// marker) and exit code. The sandbox: /usr (and the /bin, /lib... links or directories) and a short list of /etc
/// files read-only, nothing else of the host (no /home, /root, /var, /run, /sys); the workspace read-write at its own
/// path and the working directory; a private /tmp; fresh /proc and minimal /dev; new user, PID, network (loopback
/// only), IPC, UTS and cgroup namespaces; no capabilities and no further user namespaces; no setuid or setgid bits
/// (<see cref="SeccompFilter"/>: as root, sandbox root is host root and owns what it creates); a new session (no
/// terminal); an environment of PATH, HOME (the workspace), LANG=C.UTF-8 and TMPDIR only; a memory limit for the
/// whole command (see <see cref="MemoryLimitMode"/>), a process limit (see <see cref="ProcessLimitMode"/>) and no core
/// dumps. When the command finishes or its wall-clock timeout passes, everything it started dies with the PID
/// namespace. Without bwrap the tool refuses and says how to install it, unless <see cref="ShellOptions.Unsafe"/> is set.
/// <para>The workspace quota (<see cref="WorkspaceQuota"/>): each file a process writes is capped (RLIMIT_FSIZE, with
/// SIGXFSZ ignored so writes fail with "File too large") at what is left of the quota when the command starts, and a
/// watcher measures the workspace while it runs and kills the command when it goes over (the overshoot is what it
/// wrote since the last measurement). A command that starts with the workspace over its quota still runs, so it can
/// delete files, but cannot write (every file is capped at 0 bytes) and is stopped if the workspace grows.</para>
/// </summary>
public sealed class ShellTool : Tool
{
    public const int MaxCommandLength = 64 * 1024;

    private readonly ShellOptions _options;
    private readonly Sandbox _sandbox;

    public ShellTool(ShellOptions? options = null)
    {
        _options = options ?? ShellOptions.Default;
        if (_options.DefaultTimeout <= TimeSpan.Zero || _options.MaxTimeout < _options.DefaultTimeout)
        {
            throw new ArgumentException("the shell timeouts must be positive, with the default at most the maximum", nameof(options));
        }

        if (_options.ProcessLimit < 1 || _options.MemoryLimitBytes < 1 || _options.MinProcessMemoryBytes < 1 || _options.FileSizeLimitBytes < 0
            || _options.QuotaCheckInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException(
                "the shell's process limit, memory limits and quota check interval must be positive and its file-size limit not negative", nameof(options));
        }

        _sandbox = new Sandbox(_options);
        Parameters =
        [
            new("command", ToolParameterType.String, "", Required: true),
            new("timeout", ToolParameterType.Integer, $"Seconds (default {(int)_options.DefaultTimeout.TotalSeconds}).")
            {
                Minimum = 1,
                Maximum = (long)_options.MaxTimeout.TotalSeconds,
            },
        ];
    }

    public override string Name => "shell";

    public override string Description => _options.Unsafe
        ? "Run a command with sh -c in the workspace. Returns output and exit code."
        : "Run a command with sh -c in the workspace. No network; only the workspace is writable. Returns output and exit code.";

    public override IReadOnlyList<ToolParameter> Parameters { get; }

    /// <summary>Why commands cannot run (bubblewrap missing or unusable), or null when they can.</summary>
    public string? UnavailableReason => _sandbox.Current.Error;

    /// <summary>How the process limit is enforced on this machine.</summary>
    public ProcessLimitMode ProcessLimit => _sandbox.Current.ProcessLimit;

    /// <summary>How the memory limit is enforced on this machine.</summary>
    public MemoryLimitMode MemoryLimit => _sandbox.Current.MemoryLimit;

    /// <summary>One line for the server's start-up banner: what confines the commands, or why they cannot run.</summary>
    public string DescribeSandbox()
    {
        var setup = _sandbox.Current;
        if (setup.Error is not null)
        {
            return "shell unavailable: " + setup.Error;
        }

        string processes = setup.ProcessLimit switch
        {
            ProcessLimitMode.Rlimit => $"at most {setup.MaxProcesses} processes (RLIMIT_NPROC)",
            ProcessLimitMode.Cgroup => $"at most {setup.MaxProcesses} processes (pids cgroup)",
            _ => "no process-count limit (only the timeout" + (_options.Unsafe ? ")" : " and the PID namespace)"),
        };
        string memory = setup.MemoryLimit switch
        {
            MemoryLimitMode.Cgroup => $"at most {WorkspaceQuota.Size(_options.MemoryLimitBytes)} of memory per command, all its processes together (memory cgroup)",
            MemoryLimitMode.Divided => $"{WorkspaceQuota.Size(setup.AddressSpace!.Value)} of address space per process (RLIMIT_AS), " +
                                       $"{WorkspaceQuota.Size(_options.MemoryLimitBytes)} over all of them",
            _ => $"{WorkspaceQuota.Size(_options.MemoryLimitBytes)} of address space per process (RLIMIT_AS), their total unbounded",
        };
        string limit = $"{processes}; {memory}; files up to {WorkspaceQuota.Size(_options.FileSizeLimitBytes)} and within the workspace quota";
        return _options.Unsafe
            ? $"UNSAFE shell: commands run without a sandbox, with the server's permissions and network; {limit}"
            : $"shell sandbox: {setup.Version} ({setup.Executable}); system read-only, workspace read-write, private /tmp, no network; {limit}; " +
              (SeccompFilter.ForThisMachine is null
                  ? $"NO seccomp filter for {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}: as root, commands can leave setuid files in the workspace"
                  : "setuid/setgid bits refused (seccomp)");
    }

    protected override async Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context)
    {
        string command = arguments.GetString("command");
        if (command.Length > MaxCommandLength)
        {
            return ToolResult.Failure($"the command is longer than {MaxCommandLength} characters");
        }

        if (command.Contains('\0', StringComparison.Ordinal))
        {
            return ToolResult.Failure("the command contains a NUL character");
        }

        var setup = _sandbox.Current;
        if (setup.Error is not null)
        {
            return ToolResult.Failure(setup.Error);
        }

        var timeout = arguments.GetOptionalInteger("timeout") is long seconds ? TimeSpan.FromSeconds(seconds) : _options.DefaultTimeout;
        using var cgroup = _sandbox.CreateCgroup(out string? cgroupError);
        if (cgroupError is not null)
        {
            return ToolResult.Failure(cgroupError);
        }

        var quota = context.Workspace.Quota;
        var atStart = quota.Measure();
        long fileLimit = Math.Min(_options.FileSizeLimitBytes, quota.Remaining(atStart));
        using var filter = _sandbox.SeccompFile(out string? filterError);
        if (filterError is not null)
        {
            return ToolResult.Failure(filterError);
        }

        var argv = _sandbox.CommandLine(setup, new SandboxCommand(["/bin/sh", "-c", command], context.Workspace.Root, fileLimit), cgroup, filter);
        ProcessRun run;
        try
        {
            // Measured whole at the start, a walk cut short later means the command hid the tree from it: over.
            var watch = new QuotaWatch(quota, Math.Max(quota.LimitBytes, atStart.Bytes), atStart.Complete);
            run = await RunProcessAsync(argv, context.Workspace.Root, timeout, cgroup, watch, context.CancellationToken).ConfigureAwait(false);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return ToolResult.Failure($"cannot start {argv[0]}: {e.Message}");
        }
        finally
        {
            quota.Invalidate();
        }

        return Report(run, timeout, quota, atStart);
    }

    private ToolResult Report(ProcessRun run, TimeSpan timeout, WorkspaceQuota quota, WorkspaceUsage atStart)
    {
        var text = new StringBuilder(run.Output.TotalBytes == 0 ? "(no output)" : run.Output.Render());
        string cut = run.Output.WasCut
            ? $"; the output was {run.Output.TotalBytes} bytes, only its first and last {_options.MaxOutputBytes / 2} bytes are shown"
            : "";
        if (run.MemoryKills > 0)
        {
            AppendNote(text, $"the command reached its memory limit of {WorkspaceQuota.Size(_options.MemoryLimitBytes)}: " +
                             $"the kernel killed {run.MemoryKills} of its processes");
        }

        if (run.OverQuota is { } usage)
        {
            string reason = $"the workspace went over its quota ({quota.Describe(usage)})";
            AppendNote(text, $"{reason}: the command and every process it started were killed; delete files to make room{cut}");
            return ToolResult.Failure(reason, text.ToString());
        }

        if (quota.Remaining(atStart) == 0)
        {
            AppendNote(text, $"the workspace is over its quota ({quota.Describe(atStart)}), so this command could not write files; delete files to make room");
        }

        if (run.TimedOut)
        {
            AppendNote(text, $"timed out after {timeout.TotalSeconds:0.###} s: the command and every process it started were killed{cut}");
            return ToolResult.Failure($"timed out after {timeout.TotalSeconds:0.###} s", text.ToString());
        }

        AppendNote(text, $"exit code {run.ExitCode}{cut}");
        return ToolResult.Success(text.ToString());
    }

    private async Task<ProcessRun> RunProcessAsync(
        List<string> argv, string workspace, TimeSpan timeout, CommandCgroup? cgroup, QuotaWatch watch, CancellationToken cancellationToken)
    {
        // bwrap clears the environment again for the command; the unsafe shell gets exactly this one.
        var start = Sandbox.StartInfo(argv, workspace);
        start.Environment["HOME"] = workspace;

        var output = new OutputCapture(_options.MaxOutputBytes);
        using var process = new Process { StartInfo = start };
        await ProcessLauncher.StartAsync(process).ConfigureAwait(false);
        process.StandardInput.Close();
        var pumps = Task.WhenAll(PumpAsync(process.StandardOutput.BaseStream, output), PumpAsync(process.StandardError.BaseStream, output));

        bool killed = false;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        using var exited = new CancellationTokenSource();
        var watcher = WatchQuotaAsync(watch, deadline, exited.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            killed = true;
            Kill(process, cgroup);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await exited.CancelAsync().ConfigureAwait(false);
        var overQuota = await watcher.ConfigureAwait(false);

        if (OwnProcessGroup)
        {
            // Without a PID namespace, background processes would outlive the command: end its process group.
            Posix.KillProcessGroup(process.Id, Posix.SIGKILL);
        }

        cgroup?.KillAll();

        // Whatever still holds the pipes open is dead or orphaned; do not wait for it forever.
        await Task.WhenAny(pumps, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return new ProcessRun(output, killed ? null : process.ExitCode, overQuota, cgroup?.MemoryKills() ?? 0);
    }

    /// <summary>
    /// Measures the workspace while the command runs (every <see cref="ShellOptions.QuotaCheckInterval"/>, or twice
    /// as long as the last walk took); past the threshold it ends the wait through <paramref name="deadline"/> and
    /// returns the usage it saw. Null when the command ended first.
    /// </summary>
    private async Task<WorkspaceUsage?> WatchQuotaAsync(QuotaWatch watch, CancellationTokenSource deadline, CancellationToken exited)
    {
        var pause = _options.QuotaCheckInterval;
        try
        {
            while (true)
            {
                await Task.Delay(pause, exited).ConfigureAwait(false);
                long started = Stopwatch.GetTimestamp();
                var usage = await Task.Run(watch.Quota.Measure, exited).ConfigureAwait(false);
                if (usage.Bytes > watch.ThresholdBytes || (watch.MustStayMeasurable && !usage.Complete))
                {
                    await deadline.CancelAsync().ConfigureAwait(false);
                    return usage;
                }

                pause = TimeSpan.FromTicks(Math.Max(_options.QuotaCheckInterval.Ticks, 2 * Stopwatch.GetElapsedTime(started).Ticks));
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Unsafe mode started the command through setsid, so its pid is also its process group's id.</summary>
    private bool OwnProcessGroup => _options.Unsafe && _sandbox.Current.Setsid is not null;

    private void Kill(Process process, CommandCgroup? cgroup)
    {
        if (OwnProcessGroup)
        {
            Posix.KillProcessGroup(process.Id, Posix.SIGKILL);
        }

        try
        {
            // For bwrap: killing it (and its children) tears down the PID namespace and everything in it.
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or AggregateException or System.ComponentModel.Win32Exception)
        {
            // exited meanwhile, or some descendants were already gone
        }

        cgroup?.KillAll();
    }

    private static async Task PumpAsync(Stream stream, OutputCapture output)
    {
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                output.Append(buffer.AsSpan(0, read));
            }
        }
        catch (IOException)
        {
            // pipe closed under us
        }
        catch (ObjectDisposedException)
        {
            // the process object was disposed after a bounded wait
        }
    }

    /// <summary>The workspace quota a running command is held to; <paramref name="ThresholdBytes"/> is the usage that stops it.</summary>
    /// <param name="MustStayMeasurable">The workspace was measured whole at the start, so a walk cut short now is over the quota.</param>
    private sealed record QuotaWatch(WorkspaceQuota Quota, long ThresholdBytes, bool MustStayMeasurable);

    /// <param name="ExitCode">Null when the command was killed (timeout, cancellation or the quota).</param>
    /// <param name="OverQuota">The usage that stopped the command, when the quota did.</param>
    /// <param name="MemoryKills">Processes the kernel killed at the memory cgroup's limit.</param>
    private sealed record ProcessRun(OutputCapture Output, int? ExitCode, WorkspaceUsage? OverQuota, int MemoryKills)
    {
        public bool TimedOut => ExitCode is null && OverQuota is null;
    }
}
