using System.Globalization;

namespace Tern.Tools;

/// <summary>
/// A throwaway cgroup for one shell command, for limits the kernel does not give root through rlimits: a pids limit
/// (root is exempt from RLIMIT_NPROC) and a memory limit on the whole process tree (RLIMIT_AS binds each process
/// alone). The command joins it before bubblewrap starts (a tiny sh wrapper writes its own pid to every
/// <see cref="ProcsFiles"/> entry and then execs bwrap), so everything it forks is counted. cgroup v2 (controllers
/// enabled in this process's subtree) and v1 (a pids and a memory hierarchy, one directory in each) both work; a
/// controller that cannot be used is left out, and <see cref="LimitsProcesses"/>/<see cref="LimitsMemory"/> say
/// what holds. The memory limit includes swap (memory.swap.max 0, or memory.memsw.limit_in_bytes on v1 where the
/// kernel accounts swap).
/// </summary>
internal sealed class CommandCgroup : IDisposable
{
    private readonly List<string> _directories;
    private readonly string? _memoryDirectory;

    private CommandCgroup(List<string> directories, bool limitsProcesses, string? memoryDirectory)
    {
        _directories = directories;
        LimitsProcesses = limitsProcesses;
        _memoryDirectory = memoryDirectory;
    }

    public IEnumerable<string> ProcsFiles => _directories.Select(d => d + "/cgroup.procs");

    public bool LimitsProcesses { get; }

    public bool LimitsMemory => _memoryDirectory is not null;

    /// <summary>
    /// A new cgroup with whichever of the limits this machine allows (null ones are not asked for), or null when it
    /// allows none of them.
    /// </summary>
    public static CommandCgroup? TryCreate(int? maxPids, long? maxMemoryBytes)
    {
        var wanted = new List<(string Controller, string Parent)>();
        foreach (var (controller, asked) in (ReadOnlySpan<(string, bool)>)[("pids", maxPids is not null), ("memory", maxMemoryBytes is not null)])
        {
            if (asked && FindParent(controller) is { } parent)
            {
                wanted.Add((controller, parent));
            }
        }

        var directories = new List<string>();
        bool pids = false;
        string? memory = null;
        string name = "tern-shell-" + Guid.NewGuid().ToString("N")[..16];
        foreach (var group in wanted.GroupBy(w => w.Parent))
        {
            string directory = group.Key + "/" + name;
            try
            {
                Directory.CreateDirectory(directory);
                bool hasPids = group.Any(g => g.Controller == "pids");
                bool hasMemory = group.Any(g => g.Controller == "memory");
                if (hasPids)
                {
                    Write(directory, "pids.max", maxPids!.Value);
                }

                if (hasMemory)
                {
                    LimitMemory(directory, maxMemoryBytes!.Value);
                }

                directories.Add(directory);
                pids |= hasPids;
                memory = hasMemory ? directory : memory;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                TryRemove(directory);
            }
        }

        return directories.Count == 0 ? null : new CommandCgroup(directories, pids, memory);
    }

    /// <summary>How many of the command's processes the kernel killed for going over the memory limit.</summary>
    public int MemoryKills()
    {
        if (_memoryDirectory is null)
        {
            return 0;
        }

        // v2 counts in memory.events, v1 in memory.oom_control; both as an "oom_kill N" line.
        foreach (string file in (string[])["memory.events", "memory.oom_control"])
        {
            try
            {
                foreach (string line in File.ReadLines(_memoryDirectory + "/" + file))
                {
                    if (line.StartsWith("oom_kill ", StringComparison.Ordinal))
                    {
                        return int.Parse(line.AsSpan(9), NumberStyles.None, CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException)
            {
                // not this version's file
            }
        }

        return 0;
    }

    /// <summary>SIGKILLs every process still in the cgroup.</summary>
    public void KillAll()
    {
        foreach (string procs in ProcsFiles)
        {
            try
            {
                foreach (string line in File.ReadAllLines(procs))
                {
                    if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 1)
                    {
                        Posix.Kill(pid, Posix.SIGKILL);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // already gone
            }
        }
    }

    public void Dispose()
    {
        // A cgroup can only be removed once its last process has been reaped.
        for (int attempt = 0; attempt < 50; attempt++)
        {
            KillAll();
            if (_directories.All(TryRemove))
            {
                return;
            }

            Thread.Sleep(20);
        }
    }

    private static void LimitMemory(string directory, long bytes)
    {
        if (File.Exists(directory + "/memory.max"))
        {
            Write(directory, "memory.max", bytes);
            if (File.Exists(directory + "/memory.swap.max"))
            {
                Write(directory, "memory.swap.max", 0);
            }
        }
        else
        {
            // v1: the memory+swap limit may not be below the memory limit, so it is set second.
            Write(directory, "memory.limit_in_bytes", bytes);
            if (File.Exists(directory + "/memory.memsw.limit_in_bytes"))
            {
                Write(directory, "memory.memsw.limit_in_bytes", bytes);
            }
        }
    }

    private static void Write(string directory, string file, long value) =>
        File.WriteAllText(directory + "/" + file, value.ToString(CultureInfo.InvariantCulture));

    private static bool TryRemove(string directory)
    {
        try
        {
            Directory.Delete(directory);
            return true;
        }
        catch (DirectoryNotFoundException)
        {
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// The directory of this process's own cgroup for <paramref name="controller"/>, where child cgroups with its
    /// limit files can be made, or null.
    /// </summary>
    private static string? FindParent(string controller)
    {
        try
        {
            var mounts = File.ReadAllLines("/proc/self/mountinfo")
                .Select(line => line.Split(' '))
                .Select(f => (Root: f[3], MountPoint: f[4], Type: f[Array.IndexOf(f, "-") + 1], Options: f[^1]))
                .ToList();
            // v1 lines first: on hybrid systems the controllers are usually in v1 and the v2 tree has none.
            foreach (string line in File.ReadAllLines("/proc/self/cgroup").OrderBy(l => l.StartsWith("0::", StringComparison.Ordinal)))
            {
                string[] parts = line.Split(':', 3);
                bool v2 = parts.Length == 3 && parts[0] == "0" && parts[1].Length == 0;
                if (parts.Length != 3 || (!v2 && !parts[1].Split(',').Contains(controller)))
                {
                    continue;
                }

                foreach (var mount in mounts)
                {
                    bool matches = v2 ? mount.Type == "cgroup2" : mount.Type == "cgroup" && mount.Options.Split(',').Contains(controller);
                    if (!matches)
                    {
                        continue;
                    }

                    string path = parts[2];
                    if (mount.Root != "/" && path.StartsWith(mount.Root, StringComparison.Ordinal))
                    {
                        path = path[mount.Root.Length..];
                    }

                    string directory = (mount.MountPoint + "/" + path.TrimStart('/')).TrimEnd('/');
                    return v2 ? Delegated(directory, controller) : Directory.Exists(directory) ? directory : null;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            // no cgroup file system, or not ours to change
        }

        return null;
    }

    /// <summary>v2: children get a controller's files only when the parent has it and delegates it to them.</summary>
    private static string? Delegated(string directory, string controller)
    {
        string available = directory + "/cgroup.controllers";
        if (!File.Exists(available) || !File.ReadAllText(available).Split(' ', '\n').Contains(controller))
        {
            return null;
        }

        string subtree = directory + "/cgroup.subtree_control";
        if (!File.ReadAllText(subtree).Split(' ', '\n').Contains(controller))
        {
            File.WriteAllText(subtree, "+" + controller);
        }

        return directory;
    }
}
