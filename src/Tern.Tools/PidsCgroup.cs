using System.Globalization;

namespace Tern.Tools;

/// <summary>
/// A throwaway pids cgroup for one shell command, so the process limit holds even when the server runs as root (the
/// kernel exempts root from RLIMIT_NPROC). The command is moved into it before bubblewrap starts (a tiny sh wrapper
/// writes its own pid to <see cref="ProcsFile"/> and then execs bwrap), so everything it forks is counted.
/// cgroup v1 (a pids hierarchy) and v2 (a pids-enabled subtree) both work; anything else means no cgroup.
/// </summary>
internal sealed class PidsCgroup : IDisposable
{
    private readonly string _directory;

    private PidsCgroup(string directory) => _directory = directory;

    public string ProcsFile => _directory + "/cgroup.procs";

    /// <summary>A new cgroup limited to <paramref name="maxPids"/> tasks, or null when this machine does not allow one.</summary>
    public static PidsCgroup? TryCreate(int maxPids)
    {
        string? parent;
        try
        {
            parent = FindParent();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }

        if (parent is null)
        {
            return null;
        }

        string directory = parent + "/tern-shell-" + Guid.NewGuid().ToString("N")[..16];
        try
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(directory + "/pids.max", maxPids.ToString(CultureInfo.InvariantCulture));
            return new PidsCgroup(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryRemove(directory);
            return null;
        }
    }

    /// <summary>SIGKILLs every process still in the cgroup.</summary>
    public void KillAll()
    {
        try
        {
            foreach (string line in File.ReadAllLines(ProcsFile))
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

    public void Dispose()
    {
        // The cgroup can only be removed once its last process has been reaped.
        for (int attempt = 0; attempt < 50; attempt++)
        {
            KillAll();
            if (TryRemove(_directory))
            {
                return;
            }

            Thread.Sleep(20);
        }
    }

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

    /// <summary>The directory of this process's own pids cgroup, where child cgroups with a pids.max can be made.</summary>
    private static string? FindParent()
    {
        var mounts = File.ReadAllLines("/proc/self/mountinfo")
            .Select(line => line.Split(' '))
            .Select(f => (Root: f[3], MountPoint: f[4], Type: f[Array.IndexOf(f, "-") + 1], Options: f[^1]))
            .ToList();
        // v1 lines first: on hybrid systems the pids controller is usually in v1 and the v2 tree has none.
        foreach (string line in File.ReadAllLines("/proc/self/cgroup").OrderBy(l => l.StartsWith("0::", StringComparison.Ordinal)))
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length != 3)
            {
                continue;
            }

            bool v2 = parts[0] == "0" && parts[1].Length == 0;
            if (!v2 && !parts[1].Split(',').Contains("pids"))
            {
                continue;
            }

            foreach (var mount in mounts)
            {
                bool matches = v2 ? mount.Type == "cgroup2" : mount.Type == "cgroup" && mount.Options.Split(',').Contains("pids");
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
                if (!v2)
                {
                    return Directory.Exists(directory) ? directory : null;
                }

                // v2: children get pids.max only when the parent delegates the pids controller to them.
                string subtree = directory + "/cgroup.subtree_control";
                if (File.Exists(subtree) && !File.ReadAllText(subtree).Split(' ', '\n').Contains("pids"))
                {
                    File.WriteAllText(subtree, "+pids");
                }

                return File.Exists(subtree) ? directory : null;
            }
        }

        return null;
    }
}
