namespace Tern.Tools;

/// <summary>How the shell tool runs commands. The defaults are the sandbox the server uses with <c>--tools</c>.</summary>
public sealed record ShellOptions
{
    public static readonly ShellOptions Default = new();

    /// <summary>
    /// Run <c>sh -c</c> directly, without bubblewrap: only the timeout, the cleared environment, the output cap and
    /// the memory and file-size limits remain. Commands can then read and write whatever the server can, reach the
    /// network and leave no trace in the process limit; the server must say so loudly.
    /// </summary>
    public bool Unsafe { get; init; }

    /// <summary>The bwrap executable; null looks for <c>bwrap</c> on PATH.</summary>
    public string? BubblewrapPath { get; init; }

    /// <summary>Wall-clock timeout when the call gives none.</summary>
    public TimeSpan DefaultTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest timeout a call may ask for.</summary>
    public TimeSpan MaxTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Combined stdout and stderr returned; beyond it the middle is cut out (the beginning and end stay).</summary>
    public int MaxOutputBytes { get; init; } = 16 * 1024;

    /// <summary>Processes (and threads) the command may have at once.</summary>
    public int ProcessLimit { get; init; } = 128;

    /// <summary>
    /// Memory the command may use, all its processes together: a memory cgroup's limit (swap included) where the
    /// server can make one (root, see <see cref="UseMemoryCgroup"/>). Elsewhere each process gets an address-space
    /// limit (RLIMIT_AS) of this divided by the process limit, and the process limit is lowered so that each still
    /// gets at least <see cref="MinProcessMemoryBytes"/>; with no process limit at all (root without a pids cgroup,
    /// or the unsafe shell) only RLIMIT_AS of this much per process holds. See <see cref="MemoryLimitMode"/>.
    /// </summary>
    public long MemoryLimitBytes { get; init; } = 2L << 30;

    /// <summary>Without a memory cgroup: the smallest address space a process is given (see <see cref="MemoryLimitBytes"/>).</summary>
    public long MinProcessMemoryBytes { get; init; } = 256L << 20;

    /// <summary>Largest file a process may write (RLIMIT_FSIZE); lowered to what is left of the workspace quota.</summary>
    public long FileSizeLimitBytes { get; init; } = 256L << 20;

    /// <summary>How often the workspace's usage is measured while a command runs (more rarely when a walk is slow).</summary>
    public TimeSpan QuotaCheckInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Size of the sandbox's private /tmp (bubblewrap 0.8 or later).</summary>
    public long TmpSizeBytes { get; init; } = 256L << 20;

    /// <summary>Extra host directories made visible read-only at the same path (e.g. /opt/toolchain).</summary>
    public IReadOnlyList<string> ExtraReadOnlyPaths { get; init; } = [];

    /// <summary>
    /// When the server runs as root the kernel ignores RLIMIT_NPROC, so the process limit is enforced with a pids
    /// cgroup instead, when one can be created. Off, root runs have only the timeout and the PID namespace.
    /// </summary>
    public bool UsePidsCgroup { get; init; } = true;

    /// <summary>
    /// When the server runs as root, bound the memory of each command's whole process tree with a memory cgroup,
    /// when one can be created. Off (or not available), see <see cref="MemoryLimitBytes"/> for what holds instead.
    /// </summary>
    public bool UseMemoryCgroup { get; init; } = true;
}
