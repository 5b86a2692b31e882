using System.Diagnostics;
using System.Globalization;

namespace Tern.Cli.Bench;

/// <summary>Peak resident memory of this process.</summary>
internal static class ResidentMemory
{
    /// <summary>VmHWM from /proc/self/status (Linux's high-water mark); elsewhere the runtime's peak working set.</summary>
    public static long PeakBytes()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                // "VmHWM:     123456 kB"
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal)
                    && long.TryParse(line["VmHWM:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
                    return kb * 1024;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // not Linux, or /proc hidden: fall through
        }

        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }

    /// <summary>Resets Linux's high-water mark to the current resident memory (writes 5 to /proc/self/clear_refs);
    /// false where that is not possible.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}

/// <summary>
/// CPU package energy from the Linux powercap (RAPL) counters: the top-level "package-N" zones only, since their
/// sub-zones (core, uncore, dram) are parts of them and would count twice. Counters wrap at max_energy_range_uj.
/// </summary>
internal sealed class EnergyMeter
{
    public const string DefaultRoot = "/sys/class/powercap";

    private readonly string[] _counters;
    private readonly long[] _ranges;

    private EnergyMeter(string[] counters, long[] ranges)
    {
        _counters = counters;
        _ranges = ranges;
    }

    /// <summary>The package counters under <paramref name="root"/>, or null when there are none or they cannot be read.</summary>
    public static EnergyMeter? Open(string root = DefaultRoot)
    {
        try
        {
            var zones = Directory.Exists(root)
                ? Directory.GetDirectories(root).Order(StringComparer.Ordinal)
                    .Where(z => File.Exists(Path.Combine(z, "name")) && File.ReadAllText(Path.Combine(z, "name")).Trim().StartsWith("package", StringComparison.Ordinal))
                    .ToArray()
                : [];
            if (zones.Length == 0)
                return null;
            var meter = new EnergyMeter(
                zones.Select(z => Path.Combine(z, "energy_uj")).ToArray(),
                zones.Select(z => ReadCounter(Path.Combine(z, "max_energy_range_uj"))).ToArray());
            meter.Read(); // energy_uj is often root-only: find out now, not mid-run
            return meter;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Every package counter, in microjoules.</summary>
    public long[] Read() => _counters.Select(ReadCounter).ToArray();

    /// <summary>Joules spent between two readings, counting one wraparound per counter.</summary>
    public double JoulesBetween(long[] before, long[] after)
    {
        long microjoules = 0;
        for (int i = 0; i < before.Length; i++)
            microjoules += after[i] >= before[i] ? after[i] - before[i] : after[i] + _ranges[i] - before[i];
        return microjoules / 1e6;
    }

    private static long ReadCounter(string path) => long.Parse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
}
