using System.Globalization;

namespace Tern.Cli.Soak;

/// <summary>Another process's resident memory, and which process listens on a TCP port: both from Linux's /proc.</summary>
internal static class ProcessMemory
{
    /// <summary>VmRSS of process <paramref name="pid"/> in bytes; null when it is gone or unreadable.</summary>
    public static long? ResidentBytes(int pid, string proc = "/proc")
    {
        try
        {
            return VmRss(File.ReadAllText(Path.Combine(proc, pid.ToString(CultureInfo.InvariantCulture), "status")));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The <c>VmRSS:   123456 kB</c> line of a /proc/PID/status text, in bytes.</summary>
    public static long? VmRss(string status)
    {
        foreach (string line in status.Split('\n'))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)
                && long.TryParse(line["VmRSS:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
                return kb * 1024;
        }

        return null;
    }

    /// <summary>
    /// The process listening on TCP <paramref name="port"/> of this machine: the listening socket's inode from
    /// /proc/net/tcp and tcp6, then the process holding it among /proc/*/fd (only processes of this user are readable).
    /// </summary>
    public static int? ListeningOn(int port, string proc = "/proc")
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (string table in new[] { "net/tcp", "net/tcp6" })
        {
            string path = Path.Combine(proc, table);
            if (File.Exists(path))
                inodes.UnionWith(ListeningInodes(File.ReadAllText(path), port));
        }

        if (inodes.Count == 0)
            return null;
        foreach (string dir in Directory.EnumerateDirectories(proc))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                continue;
            try
            {
                foreach (string fd in Directory.EnumerateFileSystemEntries(Path.Combine(dir, "fd")))
                {
                    if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal)
                        && inodes.Contains(target["socket:[".Length..^1]))
                        return pid;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // another user's process, or one that just ended
            }
        }

        return null;
    }

    /// <summary>Inodes of the sockets listening (state 0A) on <paramref name="port"/> in a /proc/net/tcp table.</summary>
    public static IEnumerable<string> ListeningInodes(string table, int port)
    {
        // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
        // "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 ..."
        foreach (string line in table.Split('\n').Skip(1))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 9 && f[3] == "0A" && f[1].LastIndexOf(':') is int colon and > 0
                && int.TryParse(f[1][(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int p) && p == port)
                yield return f[9];
        }
    }
}
