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

/// <summary>
/// <c>shell(command, timeout?)</c>: runs <c>sh -c command</c> in the workspace under bubblewrap and returns its
/// combined stdout and stderr (capped at <see cref="ShellOptions.MaxOutputBytes"/>, the middle cut out with a
/// marker) and exit code. The sandbox: /usr (and the /bin, /lib... links or directories) and a short list of /etc
/// files read-only, nothing else of the host (no /home, /root, /var, /run, /sys); the workspace read-write at its own
/// path and the working directory; a private /tmp; fresh /proc and minimal /dev; new user, PID, network (loopback
/// only), IPC, UTS and cgroup namespaces; no capabilities and no further user namespaces; no setuid or setgid bits
/// (<see cref="SeccompFilter"/>: as root, sandbox root is host root and owns what it creates); a new session (no
/// terminal); an environment of PATH, HOME (the workspace), LANG=C.UTF-8 and TMPDIR only; RLIMIT_AS, RLIMIT_FSIZE,
/// no core dumps and a process limit (see <see cref="ProcessLimitMode"/>). When the command finishes or its
/// wall-clock timeout passes, everything it started dies with the PID namespace. Without bwrap the tool refuses and
/// says how to install it, unless <see cref="ShellOptions.Unsafe"/> is set.
/// </summary>
public sealed class ShellTool : Tool
{
    public const int MaxCommandLength = 64 * 1024;

    private const string SandboxPath = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

    // /etc files a shell needs (users, libraries, time zone, alternatives); not /etc as a whole (shadow, keys).
    private static readonly string[] EtcFiles =
    [
        "passwd", "group", "hosts", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
        "alternatives", "os-release", "debian_version", "mime.types", "magic", "magic.mime", "inputrc", "bash.bashrc",
        "profile", "shells", "protocols", "services", "gitconfig", "manpath.config",
    ];

    private readonly ShellOptions _options;
    private readonly Lazy<Setup> _setup;

    public ShellTool(ShellOptions? options = null)
    {
        _options = options ?? ShellOptions.Default;
        if (_options.DefaultTimeout <= TimeSpan.Zero || _options.MaxTimeout < _options.DefaultTimeout)
        {
            throw new ArgumentException("the shell timeouts must be positive, with the default at most the maximum", nameof(options));
        }

        _setup = new Lazy<Setup>(Prepare, LazyThreadSafetyMode.ExecutionAndPublication);
        Parameters =
        [
            new("command", ToolParameterType.String, "The command line, run by sh -c in the workspace directory.", Required: true),
            new("timeout", ToolParameterType.Integer, $"Seconds before the command is killed (default {(int)_options.DefaultTimeout.TotalSeconds}).")
            {
                Minimum = 1,
                Maximum = (long)_options.MaxTimeout.TotalSeconds,
            },
        ];
    }

    public override string Name => "shell";

    public override string Description => _options.Unsafe
        ? $"Run a shell command (sh -c) in the workspace directory. Returns its output (stdout and stderr, at most {_options.MaxOutputBytes / 1024} KiB) and exit code. " +
          $"Commands are killed after the timeout (default {(int)_options.DefaultTimeout.TotalSeconds} s, max {(int)_options.MaxTimeout.TotalSeconds} s)."
        : $"Run a shell command (sh -c) in a sandbox whose working directory is the workspace (read-write). The rest of the system is read-only, " +
          "/tmp is private and there is no network. Returns the output (stdout and stderr, at most " +
          $"{_options.MaxOutputBytes / 1024} KiB) and exit code. Commands are killed after the timeout (default {(int)_options.DefaultTimeout.TotalSeconds} s, " +
          $"max {(int)_options.MaxTimeout.TotalSeconds} s); background processes do not outlive the command.";

    public override IReadOnlyList<ToolParameter> Parameters { get; }

    /// <summary>Why commands cannot run (bubblewrap missing or unusable), or null when they can.</summary>
    public string? UnavailableReason => _setup.Value.Error;

    /// <summary>How the process limit is enforced on this machine.</summary>
    public ProcessLimitMode ProcessLimit => _setup.Value.ProcessLimit;

    /// <summary>One line for the server's start-up banner: what confines the commands, or why they cannot run.</summary>
    public string DescribeSandbox()
    {
        var setup = _setup.Value;
        if (setup.Error is not null)
        {
            return "shell unavailable: " + setup.Error;
        }

        string limit = setup.ProcessLimit switch
        {
            ProcessLimitMode.Rlimit => $"at most {_options.ProcessLimit} processes (RLIMIT_NPROC)",
            ProcessLimitMode.Cgroup => $"at most {_options.ProcessLimit} processes (pids cgroup)",
            _ => "no process-count limit (only the timeout" + (_options.Unsafe ? ")" : " and the PID namespace)"),
        };
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

        var setup = _setup.Value;
        if (setup.Error is not null)
        {
            return ToolResult.Failure(setup.Error);
        }

        var timeout = arguments.GetOptionalInteger("timeout") is long seconds ? TimeSpan.FromSeconds(seconds) : _options.DefaultTimeout;
        using var cgroup = setup.ProcessLimit == ProcessLimitMode.Cgroup ? PidsCgroup.TryCreate(_options.ProcessLimit) : null;
        using var filter = SeccompFile(out string? filterError);
        if (filterError is not null)
        {
            return ToolResult.Failure(filterError);
        }

        var argv = CommandLine(setup, context.Workspace.Root, command, cgroup, filter);
        ProcessRun run;
        try
        {
            run = await RunProcessAsync(argv, context.Workspace.Root, timeout, cgroup, context.CancellationToken).ConfigureAwait(false);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return ToolResult.Failure($"cannot start {argv[0]}: {e.Message}");
        }

        return Report(run, timeout);
    }

    private ToolResult Report(ProcessRun run, TimeSpan timeout)
    {
        var text = new StringBuilder(run.Output.TotalBytes == 0 ? "(no output)" : run.Output.Render());
        string cut = run.Output.WasCut
            ? $"; the output was {run.Output.TotalBytes} bytes, only its first and last {_options.MaxOutputBytes / 2} bytes are shown"
            : "";
        if (run.TimedOut)
        {
            AppendNote(text, $"timed out after {timeout.TotalSeconds:0.###} s: the command and every process it started were killed{cut}");
            return ToolResult.Failure($"timed out after {timeout.TotalSeconds:0.###} s", text.ToString());
        }

        AppendNote(text, $"exit code {run.ExitCode}{cut}");
        return ToolResult.Success(text.ToString());
    }

    /// <summary>The setuid filter's file for one sandboxed command; null in unsafe mode, on an architecture without one, or with an error.</summary>
    private SeccompFilterFile? SeccompFile(out string? error)
    {
        error = null;
        if (_options.Unsafe || SeccompFilter.ForThisMachine is not { } program)
        {
            return null;
        }

        try
        {
            return new SeccompFilterFile(program);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"cannot write the sandbox's seccomp filter to {System.IO.Path.GetTempPath()}: {e.Message}";
            return null;
        }
    }

    private List<string> CommandLine(Setup setup, string workspace, string command, PidsCgroup? cgroup, SeccompFilterFile? filter)
    {
        var inner = new List<string>();
        if (setup.DefaultSignals is not null)
        {
            // .NET ignores SIGPIPE and children inherit that; without this `yes | head` reports broken pipes.
            inner.AddRange([setup.DefaultSignals, "--default-signal=PIPE"]);
        }

        string memoryLimit = _options.MemoryLimitBytes.ToString(CultureInfo.InvariantCulture);
        string fileLimit = _options.FileSizeLimitBytes.ToString(CultureInfo.InvariantCulture);
        if (setup.Prlimit is not null)
        {
            inner.Add(setup.Prlimit);
            if (!_options.Unsafe)
            {
                // In unsafe mode RLIMIT_NPROC would count every process of the server's user, not just the command's.
                inner.Add($"--nproc={_options.ProcessLimit}");
            }

            inner.AddRange([$"--as={memoryLimit}", $"--fsize={fileLimit}", "--core=0", "--", "/bin/sh", "-c", command]);
        }
        else
        {
            inner.AddRange(["/bin/sh", "-c", $"ulimit -v {_options.MemoryLimitBytes / 1024} 2>/dev/null; ulimit -f {_options.FileSizeLimitBytes / 512} 2>/dev/null; exec /bin/sh -c \"$1\"", "sh", command]);
        }

        if (_options.Unsafe)
        {
            return setup.Setsid is null ? inner : [setup.Setsid, .. inner];
        }

        var argv = new List<string>();
        if (cgroup is not null)
        {
            // Join the cgroup before bwrap starts, so every process of the sandbox is counted.
            argv.AddRange(["/bin/sh", "-c", "echo $$ > \"$1\" 2>/dev/null; shift; exec \"$@\"", "tern-shell", cgroup.ProcsFile]);
        }

        if (filter is not null)
        {
            // bwrap reads the filter from a descriptor: open the file as fd 3, then exec bwrap.
            argv.AddRange(["/bin/sh", "-c", "exec 3<\"$1\"; shift; exec \"$@\"", "tern-seccomp", filter.Path]);
        }

        argv.Add(setup.Executable!);
        if (filter is not null)
        {
            argv.AddRange(["--seccomp", "3"]);
        }

        argv.AddRange(["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "tern-sandbox"]);
        if (setup.Modern)
        {
            argv.Add("--disable-userns");
        }

        argv.AddRange(["--ro-bind", "/usr", "/usr"]);
        foreach (string top in (string[])["bin", "sbin", "lib", "lib32", "lib64", "libx32"])
        {
            string path = "/" + top;
            var info = new DirectoryInfo(path);
            if (info.LinkTarget is { } target)
            {
                argv.AddRange(["--symlink", target, path]);
            }
            else if (info.Exists)
            {
                argv.AddRange(["--ro-bind", path, path]);
            }
        }

        foreach (string name in EtcFiles)
        {
            argv.AddRange(["--ro-bind-try", "/etc/" + name, "/etc/" + name]);
        }

        foreach (string extra in _options.ExtraReadOnlyPaths)
        {
            argv.AddRange(["--ro-bind-try", extra, extra]);
        }

        argv.AddRange(["--proc", "/proc", "--dev", "/dev"]);
        if (setup.Modern)
        {
            argv.AddRange(["--size", _options.TmpSizeBytes.ToString(CultureInfo.InvariantCulture)]);
        }

        argv.AddRange(["--tmpfs", "/tmp"]);
        argv.AddRange(["--bind", workspace, workspace]);

        // bwrap's new root is a tmpfs: make it read-only too, so only the workspace and /tmp take writes.
        argv.AddRange(["--remount-ro", "/", "--chdir", workspace]);
        argv.AddRange(["--clearenv", "--setenv", "PATH", SandboxPath, "--setenv", "HOME", workspace, "--setenv", "LANG", "C.UTF-8", "--setenv", "TMPDIR", "/tmp"]);
        argv.Add("--");
        argv.AddRange(inner);
        return argv;
    }

    private async Task<ProcessRun> RunProcessAsync(List<string> argv, string workspace, TimeSpan timeout, PidsCgroup? cgroup, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workspace,
        };
        foreach (string argument in argv.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        // bwrap clears the environment again for the command; the unsafe shell gets exactly this one.
        start.Environment.Clear();
        start.Environment["PATH"] = SandboxPath;
        start.Environment["HOME"] = workspace;
        start.Environment["LANG"] = "C.UTF-8";

        var output = new OutputCapture(_options.MaxOutputBytes);
        using var process = new Process { StartInfo = start };
        await ProcessLauncher.StartAsync(process).ConfigureAwait(false);
        process.StandardInput.Close();
        var pumps = Task.WhenAll(PumpAsync(process.StandardOutput.BaseStream, output), PumpAsync(process.StandardError.BaseStream, output));

        bool timedOut = false;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = !cancellationToken.IsCancellationRequested;
            Kill(process, cgroup);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        if (OwnProcessGroup)
        {
            // Without a PID namespace, background processes would outlive the command: end its process group.
            Posix.KillProcessGroup(process.Id, Posix.SIGKILL);
        }

        cgroup?.KillAll();

        // Whatever still holds the pipes open is dead or orphaned; do not wait for it forever.
        await Task.WhenAny(pumps, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return new ProcessRun(output, timedOut ? null : process.ExitCode);
    }

    /// <summary>Unsafe mode started the command through setsid, so its pid is also its process group's id.</summary>
    private bool OwnProcessGroup => _options.Unsafe && _setup.Value.Setsid is not null;

    private void Kill(Process process, PidsCgroup? cgroup)
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

    private Setup Prepare()
    {
        // Inside the sandbox only /usr, /bin and /sbin are visible, so prlimit must live there.
        string? prlimit = FindExecutable("prlimit", null);
        string? env = FindExecutable("env", null);
        env = env is not null && RunQuick([env, "--default-signal=PIPE", "true"]).ExitCode == 0 ? env : null;
        if (_options.Unsafe)
        {
            return new Setup(null, null, "none", false, prlimit, env, FindExecutable("setsid", null), ProcessLimitMode.None);
        }

        string? bwrap = _options.BubblewrapPath ?? FindExecutable("bwrap", System.Environment.GetEnvironmentVariable("PATH"));
        if (bwrap is null || !File.Exists(bwrap))
        {
            return Setup.Unavailable(
                "the shell tool runs commands in a bubblewrap sandbox, but bubblewrap (bwrap) is not installed on the server; " +
                "install it with `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap` (Fedora), " +
                "or start the server with --unsafe-shell to run commands without a sandbox");
        }

        string version = RunQuick([bwrap, "--version"]).Output.Trim();
        bool modern = ParseVersion(version) >= new Version(0, 8);
        var mode = ProcessLimitMode.None;
        if (Posix.IsRoot)
        {
            using var probe = _options.UsePidsCgroup ? PidsCgroup.TryCreate(_options.ProcessLimit) : null;
            mode = probe is null ? ProcessLimitMode.None : ProcessLimitMode.Cgroup;
        }
        else if (prlimit is not null)
        {
            mode = ProcessLimitMode.Rlimit;
        }

        var setup = new Setup(null, bwrap, version.Length > 0 ? version : "bubblewrap", modern, prlimit, env, null, mode);

        // One empty run shows whether this kernel lets bwrap build the sandbox (user namespaces may be disabled).
        using var filter = SeccompFile(out string? filterError);
        if (filterError is not null)
        {
            return Setup.Unavailable(filterError);
        }

        var check = RunQuick(CommandLine(setup, System.IO.Path.GetTempPath().TrimEnd('/'), "true", null, filter));
        return check.ExitCode == 0
            ? setup
            : Setup.Unavailable($"bubblewrap is installed but cannot create a sandbox on this machine: {check.Output.Trim()}");
    }

    private static (int ExitCode, string Output) RunQuick(List<string> argv)
    {
        var start = new ProcessStartInfo(argv[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in argv.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return (-1, "timed out");
            }

            return (process.ExitCode, stdout + stderr.GetAwaiter().GetResult());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }

    private static Version ParseVersion(string text)
    {
        string last = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
        return Version.TryParse(last, out var version) ? version : new Version(0, 0);
    }

    private static string? FindExecutable(string name, string? pathVariable)
    {
        var directories = (pathVariable ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]);
        foreach (string directory in directories)
        {
            string candidate = System.IO.Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <param name="DefaultSignals">GNU env, when it supports --default-signal.</param>
    private sealed record Setup(
        string? Error, string? Executable, string Version, bool Modern, string? Prlimit, string? DefaultSignals, string? Setsid, ProcessLimitMode ProcessLimit)
    {
        public static Setup Unavailable(string error) => new(error, null, "", false, null, null, null, ProcessLimitMode.None);
    }

    private sealed record ProcessRun(OutputCapture Output, int? ExitCode)
    {
        public bool TimedOut => ExitCode is null;
    }
}
