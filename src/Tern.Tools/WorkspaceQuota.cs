using System.Diagnostics;
using System.Globalization;
using System.IO.Enumeration;

namespace Tern.Tools;

/// <summary>
/// How much disk the workspace may take (<see cref="LimitBytes"/>) and how much it takes. Usage is the sum of
/// st_blocks × 512 over a walk of the tree that does not follow symbolic links and counts a hard-linked file once;
/// the walk stops after <see cref="MaxEntries"/> entries or <see cref="MaxWalkTime"/>, and the sum is then what it saw
/// (a lower bound, <see cref="WorkspaceUsage.Complete"/> false). A workspace that cannot be measured whole counts as
/// over its quota (<see cref="IsOver"/>): otherwise entries that hide the rest of the tree from the walk would lift the
/// quota altogether. write_file and edit_file refuse a write that would go over the limit; the shell tool caps each file at what is left and stops a command that goes over (see
/// <see cref="ShellTool"/>). A measurement is reused for <see cref="CacheLifetime"/>. Thread-safe.
/// </summary>
public sealed class WorkspaceQuota
{
    /// <summary>Without an explicit limit, the workspace may grow by this much over what it holds at start.</summary>
    public const long DefaultGrowthBytes = 1L << 30;

    public const int DefaultMaxEntries = 200_000;

    public static readonly TimeSpan MaxWalkTime = TimeSpan.FromSeconds(2);

    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(1);

    private static readonly EnumerationOptions Walk = new()
    {
        RecurseSubdirectories = true,
        IgnoreInaccessible = true,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    private readonly string _root;
    private readonly Lock _lock = new();
    private WorkspaceUsage _usage;
    private long _measuredAt;

    /// <param name="root">The workspace's real path.</param>
    /// <param name="limitBytes">The most the workspace may hold; null for what it holds now plus <see cref="DefaultGrowthBytes"/>.</param>
    internal WorkspaceQuota(string root, long? limitBytes)
    {
        if (limitBytes is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(limitBytes), limitBytes, "the workspace quota must be positive");
        }

        _root = root;
        var usage = Measure();
        LimitBytes = limitBytes ?? usage.Bytes + DefaultGrowthBytes;
    }

    public long LimitBytes { get; }

    /// <summary>Entries the walk looks at before it gives up (<see cref="DefaultMaxEntries"/>; tests lower it).</summary>
    internal int MaxEntries { get; set; } = DefaultMaxEntries;

    /// <summary>Over the quota, or too large to measure (which counts as over).</summary>
    public bool IsOver(WorkspaceUsage usage) => !usage.Complete || usage.Bytes > LimitBytes;

    /// <summary>Bytes the workspace may still grow by: none when it is at or over the quota, or cannot be measured.</summary>
    public long Remaining(WorkspaceUsage usage) => IsOver(usage) ? 0 : LimitBytes - usage.Bytes;

    /// <summary>The usage measured within the last <see cref="CacheLifetime"/>, or measured now.</summary>
    public WorkspaceUsage Current()
    {
        lock (_lock)
        {
            return Stopwatch.GetElapsedTime(_measuredAt) < CacheLifetime ? _usage : Measure();
        }
    }

    /// <summary>Walks the workspace now (bounded, see the class summary) and caches the result.</summary>
    public WorkspaceUsage Measure()
    {
        lock (_lock)
        {
            _usage = Sum(_root, MaxEntries);
            _measuredAt = Stopwatch.GetTimestamp();
            return _usage;
        }
    }

    /// <summary>Makes the next <see cref="Current"/> measure again (after a shell command, which writes behind our back).</summary>
    internal void Invalidate()
    {
        lock (_lock)
        {
            _measuredAt = 0;
        }
    }

    /// <summary>"12.5 MiB of 1 GiB in use", or "32 MiB of 32 MiB in use, 4 KiB over".</summary>
    public string Describe(WorkspaceUsage usage) =>
        $"{(usage.Complete ? "" : "at least ")}{Size(usage.Bytes)} of {Size(LimitBytes)} in use" +
        (usage.Bytes > LimitBytes ? $", {Size(usage.Bytes - LimitBytes)} over" : "") +
        (usage.Complete ? "" : $"; the workspace holds more than {MaxEntries} entries or takes over {MaxWalkTime.TotalSeconds:0} s to measure, which counts as over");

    /// <summary>Throws <see cref="ToolSandboxException"/> when adding <paramref name="growth"/> bytes would take the workspace over the limit.</summary>
    internal void CheckGrowth(long growth, string tool, string shown)
    {
        if (growth <= 0)
        {
            return; // a write that does not grow the workspace needs no walk
        }

        var usage = Current();
        if (!usage.Complete || usage.Bytes + growth > LimitBytes)
        {
            throw new ToolSandboxException(
                $"{tool} refused: writing {shown} would add {Size(growth)} to the workspace, over its quota ({Describe(usage)}); " +
                "delete files to make room (the server sets the quota with --workspace-quota)");
        }
    }

    /// <summary>Counts a write into the cached usage, so the next check within the cache lifetime sees it.</summary>
    internal void Charge(long growth)
    {
        lock (_lock)
        {
            _usage = _usage with { Bytes = Math.Max(0, _usage.Bytes + growth) };
        }
    }

    /// <summary>Bytes in binary units for messages: "512 bytes", "64 KiB", "1.5 GiB".</summary>
    public static string Size(long bytes)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        if (bytes < 1024)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + " bytes";
        }

        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString("0.#", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    private static WorkspaceUsage Sum(string root, int maxEntries)
    {
        long started = Stopwatch.GetTimestamp();
        long bytes = Posix.TryStat(root, followLinks: false, out var top, out _) ? (long)top.Blocks * 512 : 0;
        var linked = new HashSet<(ulong, ulong)>();
        int entries = 0;
        var walk = new FileSystemEnumerable<string>(root, (ref FileSystemEntry entry) => entry.ToFullPath(), Walk)
        {
            // Symbolic links to directories are counted as links, never entered.
            ShouldRecursePredicate = (ref FileSystemEntry entry) => (entry.Attributes & FileAttributes.ReparsePoint) == 0,
        };
        foreach (string path in walk)
        {
            if (++entries > maxEntries || Stopwatch.GetElapsedTime(started) > MaxWalkTime)
            {
                return new WorkspaceUsage(bytes, Complete: false);
            }

            if (!Posix.TryStat(path, followLinks: false, out var status, out _))
            {
                continue; // removed while we looked
            }

            if (status.LinkCount > 1 && !status.IsDirectory && !linked.Add((status.Device, status.Inode)))
            {
                continue;
            }

            bytes += (long)status.Blocks * 512;
        }

        return new WorkspaceUsage(bytes, Complete: true);
    }
}

/// <summary>Disk the workspace takes; <paramref name="Complete"/> is false when the walk was cut short (a lower bound).</summary>
public readonly record struct WorkspaceUsage(long Bytes, bool Complete);
