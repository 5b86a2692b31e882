namespace Tern.Tools;

/// <summary>Bounds on what the file tools read, write and return, so no call can exhaust memory or the context.</summary>
public sealed record FileToolLimits
{
    public static readonly FileToolLimits Default = new();

    /// <summary>read_file output cap (UTF-8 bytes); longer output is cut with a note.</summary>
    public int MaxReadOutputBytes { get; init; } = 256 * 1024;

    /// <summary>Largest file read_file opens at all.</summary>
    public long MaxReadFileBytes { get; init; } = 16 << 20;

    /// <summary>Largest content write_file accepts, and largest file edit_file produces.</summary>
    public int MaxWriteBytes { get; init; } = 1 << 20;

    /// <summary>Largest file edit_file opens.</summary>
    public long MaxEditFileBytes { get; init; } = 8 << 20;

    /// <summary>grep skips files larger than this.</summary>
    public long MaxGrepFileBytes { get; init; } = 4 << 20;

    /// <summary>grep's result count when the call gives none, and the most it may ask for.</summary>
    public int DefaultGrepResults { get; init; } = 100;

    public int MaxGrepResults { get; init; } = 1000;

    /// <summary>grep stops (with a note) after looking at this many directory entries: files, those its glob skips included, and directories.</summary>
    public int MaxGrepFiles { get; init; } = 100_000;

    /// <summary>file_glob_search's result count when the call gives none, and the most it may ask for.</summary>
    public int DefaultGlobResults { get; init; } = 100;

    public int MaxGlobResults { get; init; } = 1000;

    /// <summary>file_glob_search stops (with a note) after looking at this many directory entries.</summary>
    public int MaxGlobEntries { get; init; } = 100_000;

    /// <summary>How long one regex match may run before the pattern is reported as too slow.</summary>
    public TimeSpan GrepMatchTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Wall-clock budget for one grep call; when spent, grep returns what it found with a note.</summary>
    public TimeSpan GrepTimeBudget { get; init; } = TimeSpan.FromSeconds(10);
}
