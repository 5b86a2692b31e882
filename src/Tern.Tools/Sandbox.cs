using System.Diagnostics;
using System.Globalization;

namespace Tern.Tools;

/// <summary>
/// One program to run in the sandbox: its argv (the first an absolute path visible inside), the directory it may
/// write (bound read-write at its own path; HOME), where it starts (default that directory), the largest file it may
/// write, whether it keeps the host's network, more host paths to show read-only, and environment variables set
/// after the defaults (PATH, HOME, LANG, TMPDIR).
/// </summary>
internal sealed record SandboxCommand(IReadOnlyList<string> Argv, string Writable, long FileLimit)
{
    public string? WorkingDirectory { get; init; }

    public bool Network { get; init; }

    public IReadOnlyList<string> ReadOnlyPaths { get; init; } = [];

    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];
}

/// <summary>
/// The bubblewrap sandbox of the shell tool, shared with the stdio MCP servers: finds bwrap, prlimit and env once
/// (<see cref="Current"/>), decides how processes and memory are limited on this machine, and builds the command
/// line that confines one program (see <see cref="ShellTool"/> for what the sandbox holds).
/// </summary>
internal sealed class Sandbox
{
    public const string SandboxPath = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

    /// <summary>
    /// How to start a sandbox command line (<paramref name="argv"/>, from <see cref="CommandLine"/>): its three streams
    /// redirected, run from <paramref name="workspace"/>, with a cleared environment of PATH and LANG only (bwrap clears
    /// it again for the command inside).
    /// </summary>
    public static ProcessStartInfo StartInfo(IReadOnlyList<string> argv, string workspace)
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

        start.Environment.Clear();
        start.Environment["PATH"] = SandboxPath;
        start.Environment["LANG"] = "C.UTF-8";
        return start;
    }

    // /etc files a shell needs (users, libraries, time zone, alternatives); not /etc as a whole (shadow, keys).
    private static readonly string[] EtcFiles =
    [
        "passwd", "group", "hosts", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
        "alternatives", "os-release", "debian_version", "mime.types", "magic", "magic.mime", "inputrc", "bash.bashrc",
        "profile", "shells", "protocols", "services", "gitconfig", "manpath.config",
    ];

    // The /proc files that change the host (the ones container runtimes make read-only too).
    private static readonly string[] ProcReadOnly = ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"];

    private readonly ShellOptions _options;
    private readonly Lazy<Setup> _setup;

    public Sandbox(ShellOptions options)
    {
        _options = options;
        _setup = new Lazy<Setup>(Prepare, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>What this machine allows (bwrap, limits), probed on first use; <see cref="Setup.Error"/> says why nothing can run.</summary>
    public Setup Current => _setup.Value;

    /// <summary>
    /// The cgroup that holds one run's processes when the limits need one (root), or null when they do not; an error
    /// when they need one and it cannot be made.
    /// </summary>
    public CommandCgroup? CreateCgroup(out string? error)
    {
        error = null;
        var setup = Current;
        bool pids = setup.ProcessLimit == ProcessLimitMode.Cgroup;
        bool memory = setup.MemoryLimit == MemoryLimitMode.Cgroup;
        var cgroup = pids || memory ? CommandCgroup.TryCreate(pids ? setup.MaxProcesses : null, memory ? _options.MemoryLimitBytes : null) : null;
        if ((pids || memory) && (cgroup is null || cgroup.LimitsProcesses != pids || cgroup.LimitsMemory != memory))
        {
            cgroup?.Dispose();
            error = "cannot create the cgroup that limits the command's processes and memory; the command was not run";
            return null;
        }

        return cgroup;
    }

    /// <summary>The setuid filter's file for one sandboxed command; null in unsafe mode, on an architecture without one, or with an error.</summary>
    public SeccompFilterFile? SeccompFile(out string? error)
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

    /// <summary>
    /// The argv that runs <paramref name="command"/> confined: limits (prlimit), then bwrap with the system read-only,
    /// <see cref="SandboxCommand.Writable"/> read-write at its own path, a private /tmp and the environment cleared.
    /// </summary>
    public List<string> CommandLine(Setup setup, SandboxCommand command, CommandCgroup? cgroup, SeccompFilterFile? filter)
    {
        string workspace = command.Writable;
        long fileLimit = command.FileLimit;
        var inner = new List<string>();
        if (setup.DefaultSignals is not null)
        {
            // .NET ignores SIGPIPE and children inherit that; without this `yes | head` reports broken pipes.
            // SIGXFSZ ignored: a write past the file-size limit fails with EFBIG ("File too large") instead of killing.
            inner.AddRange([setup.DefaultSignals, "--default-signal=PIPE", "--ignore-signal=XFSZ"]);
        }

        if (setup.Prlimit is not null)
        {
            inner.Add(setup.Prlimit);
            if (!_options.Unsafe)
            {
                // In unsafe mode RLIMIT_NPROC would count every process of the server's user, not just the command's.
                inner.Add($"--nproc={setup.MaxProcesses}");
            }

            if (setup.AddressSpace is long addressSpace)
            {
                inner.Add(string.Create(CultureInfo.InvariantCulture, $"--as={addressSpace}"));
            }

            inner.AddRange([string.Create(CultureInfo.InvariantCulture, $"--fsize={fileLimit}"), "--core=0", "--", .. command.Argv]);
        }
        else
        {
            string addressSpace = setup.AddressSpace is long bytes ? $"ulimit -v {bytes / 1024} 2>/dev/null; " : "";
            inner.AddRange(["/bin/sh", "-c", $"{addressSpace}ulimit -f {fileLimit / 512} 2>/dev/null; exec \"$@\"", "sh", .. command.Argv]);
        }

        if (_options.Unsafe)
        {
            return setup.Setsid is null ? inner : [setup.Setsid, .. inner];
        }

        var argv = new List<string>();
        if (cgroup is not null)
        {
            // Join the cgroup (one directory per v1 hierarchy) before bwrap starts, so every process of the sandbox is counted.
            argv.AddRange(["/bin/sh", "-c", "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || exit 125; shift; done; shift; exec \"$@\"", "tern-shell"]);
            argv.AddRange(cgroup.ProcsFiles);
            argv.Add("--");
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
        if (command.Network)
        {
            argv.Add("--share-net");
        }

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

        if (command.Network)
        {
            argv.AddRange(["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]);
        }

        foreach (string extra in _options.ExtraReadOnlyPaths.Concat(command.ReadOnlyPaths))
        {
            argv.AddRange(["--ro-bind-try", extra, extra]);
        }

        argv.AddRange(["--proc", "/proc", "--dev", "/dev"]);

        // As root, sandbox root is host uid 0, and /proc/sys (core_pattern, modprobe...) and /proc/sysrq-trigger check
        // only the uid, not capabilities: bind them read-only, or a command could make the host run its code as root.
        foreach (string path in ProcReadOnly)
        {
            argv.AddRange(["--ro-bind-try", path, path]);
        }
        if (setup.Modern)
        {
            argv.AddRange(["--size", _options.TmpSizeBytes.ToString(CultureInfo.InvariantCulture)]);
        }

        argv.AddRange(["--tmpfs", "/tmp"]);
        argv.AddRange(["--bind", workspace, workspace]);

        // bwrap's new root is a tmpfs: make it read-only too, so only the workspace and /tmp take writes.
        argv.AddRange(["--remount-ro", "/", "--chdir", command.WorkingDirectory ?? workspace]);
        argv.AddRange(["--clearenv", "--setenv", "PATH", SandboxPath, "--setenv", "HOME", workspace, "--setenv", "LANG", "C.UTF-8", "--setenv", "TMPDIR", "/tmp"]);
        foreach (var (name, value) in command.Environment)
        {
            argv.AddRange(["--setenv", name, value]);
        }

        argv.Add("--");
        argv.AddRange(inner);
        return argv;
    }

    private Setup Prepare()
    {
        // Inside the sandbox only /usr, /bin and /sbin are visible, so prlimit must live there.
        string? prlimit = FindExecutable("prlimit", null);
        string? env = FindExecutable("env", null);
        env = env is not null && RunQuick([env, "--default-signal=PIPE", "--ignore-signal=XFSZ", "true"]).ExitCode == 0 ? env : null;
        if (_options.Unsafe)
        {
            return WithLimits(new Setup(null, null, "none", false, prlimit, env, FindExecutable("setsid", null), ProcessLimitMode.None), memoryCgroup: false);
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
        bool memoryCgroup = false;
        if (Posix.IsRoot)
        {
            using var probe = CommandCgroup.TryCreate(
                _options.UsePidsCgroup ? _options.ProcessLimit : null, _options.UseMemoryCgroup ? _options.MemoryLimitBytes : null);
            mode = probe?.LimitsProcesses == true ? ProcessLimitMode.Cgroup : ProcessLimitMode.None;
            memoryCgroup = probe?.LimitsMemory == true;
        }
        else if (prlimit is not null)
        {
            mode = ProcessLimitMode.Rlimit;
        }

        var setup = WithLimits(new Setup(null, bwrap, version.Length > 0 ? version : "bubblewrap", modern, prlimit, env, null, mode), memoryCgroup);

        // One empty run shows whether this kernel lets bwrap build the sandbox (user namespaces may be disabled).
        using var filter = SeccompFile(out string? filterError);
        if (filterError is not null)
        {
            return Setup.Unavailable(filterError);
        }

        var check = RunQuick(CommandLine(setup, new SandboxCommand(["/bin/sh", "-c", "true"], System.IO.Path.GetTempPath().TrimEnd('/'), _options.FileSizeLimitBytes), null, filter));
        return check.ExitCode == 0
            ? setup
            : Setup.Unavailable($"bubblewrap is installed but cannot create a sandbox on this machine: {check.Output.Trim()}");
    }

    /// <summary>The process count and per-process address space that keep a command within the memory limit.</summary>
    private Setup WithLimits(Setup setup, bool memoryCgroup)
    {
        if (memoryCgroup)
        {
            return setup with { MemoryLimit = MemoryLimitMode.Cgroup, MaxProcesses = _options.ProcessLimit };
        }

        if (setup.ProcessLimit == ProcessLimitMode.None)
        {
            return setup with { MemoryLimit = MemoryLimitMode.PerProcess, MaxProcesses = _options.ProcessLimit, AddressSpace = _options.MemoryLimitBytes };
        }

        // Fewer processes, each with at least the minimum: processes × address space stays within the limit.
        long each = Math.Max(_options.MemoryLimitBytes / _options.ProcessLimit, _options.MinProcessMemoryBytes);
        int processes = (int)Math.Clamp(_options.MemoryLimitBytes / each, 1, _options.ProcessLimit);
        return setup with { MemoryLimit = MemoryLimitMode.Divided, MaxProcesses = processes, AddressSpace = _options.MemoryLimitBytes / processes };
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

    /// <param name="DefaultSignals">GNU env, when it supports --default-signal and --ignore-signal.</param>
    public sealed record Setup(
        string? Error, string? Executable, string Version, bool Modern, string? Prlimit, string? DefaultSignals, string? Setsid, ProcessLimitMode ProcessLimit)
    {
        public MemoryLimitMode MemoryLimit { get; init; }

        /// <summary>The process limit in force (the option's, or fewer for <see cref="MemoryLimitMode.Divided"/>).</summary>
        public int MaxProcesses { get; init; }

        /// <summary>RLIMIT_AS per process, or null for none (the memory cgroup holds the total).</summary>
        public long? AddressSpace { get; init; }

        public static Setup Unavailable(string error) => new(error, null, "", false, null, null, null, ProcessLimitMode.None);
    }
}
