namespace Tern.Tools;

/// <summary>
/// The directory tools may touch, and the rules that keep them inside it. Every path a tool receives goes through
/// <see cref="Resolve"/>: relative paths are taken from <see cref="Root"/>, absolute ones must already lie inside it,
/// and the result is the real path after the kernel has followed every symbolic link (so <c>..</c> after a link means
/// what it means to the kernel). What cannot be used, with a <see cref="ToolSandboxException"/>:
/// <list type="bullet">
/// <item>anything whose real path is outside the root (<c>../x</c>, <c>/etc/passwd</c>, a link to <c>/</c>, a link
/// chain that ends outside, <c>/proc/self/root</c>);</item>
/// <item>dangling links (writing through one would create a file where it points);</item>
/// <item>devices, FIFOs and sockets (reading <c>/dev/zero</c> never ends, opening a FIFO blocks);</item>
/// <item>regular files with more than one hard link: the other name may be outside the workspace and nothing tells
/// where it is, so such files are neither read nor written;</item>
/// <item>paths with a NUL character or longer than <see cref="MaxPathLength"/>.</item>
/// </list>
/// Resolution and use are separate steps, so the file operations check again on the open descriptor (its real path
/// through <c>/proc/self/fd</c>, its type and link count) and create and rename relative to an open directory: a
/// link swapped in between (say by a concurrent shell call) is caught rather than followed. The root itself may not
/// be <c>/</c> or lie under <c>/proc</c>, <c>/sys</c> or <c>/dev</c>, so those trees are always outside. Files the
/// user opens through the shell tool are confined by bubblewrap instead, see <see cref="ShellTool"/>.
/// </summary>
public sealed partial class Workspace
{
    public const int MaxPathLength = 4096;

    private const int MaxNameBytes = 255;

    private static readonly string[] ForbiddenRoots = ["/proc", "/sys", "/dev"];

    /// <param name="quotaBytes">The most disk the workspace may take; null for what it takes now plus <see cref="WorkspaceQuota.DefaultGrowthBytes"/>.</param>
    public Workspace(string root, long? quotaBytes = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the tool sandbox needs Linux");
        }

        string full = System.IO.Path.GetFullPath(root);
        string real = Posix.RealPath(full, out int errno)
            ?? throw new ArgumentException($"workspace {full}: {Posix.Describe(errno)}", nameof(root));
        if (!Posix.TryStat(real, followLinks: true, out var status, out errno) || !status.IsDirectory)
        {
            throw new ArgumentException($"workspace {full} is not a directory", nameof(root));
        }

        if (real == "/" || ForbiddenRoots.Any(f => real == f || real.StartsWith(f + "/", StringComparison.Ordinal)))
        {
            throw new ArgumentException($"workspace {real} is not allowed: it may not be / or lie under /proc, /sys or /dev", nameof(root));
        }

        Root = real;
        Quota = new WorkspaceQuota(real, quotaBytes);
    }

    /// <summary>The real (symlink-free) absolute path of the workspace directory.</summary>
    public string Root { get; }

    public WorkspaceQuota Quota { get; }

    /// <summary>Resolves a path given by the model, or throws <see cref="ToolSandboxException"/> saying why not.</summary>
    public WorkspaceEntry Resolve(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string shown = Quote(path);
        if (path.Length == 0)
        {
            throw new ToolSandboxException("the path is empty");
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ToolSandboxException($"the path {shown} contains a NUL character");
        }

        if (path.Length > MaxPathLength)
        {
            throw new ToolSandboxException($"the path {shown} is longer than {MaxPathLength} characters");
        }

        // A path that is outside even before links are followed gets the plain message, and it only counts as inside
        // when the kernel resolves it into the workspace (the root given through a link, say); errors met on the
        // way outside are not reported, so they cannot be used to probe the host's files.
        string combined = path.StartsWith('/') ? path : Root + "/" + path;
        bool lexicallyInside = IsInside(System.IO.Path.GetFullPath(combined));
        string real;
        List<string> missing;
        try
        {
            (real, missing) = ResolveExistingPrefix(combined, shown);
        }
        catch (ToolSandboxException) when (!lexicallyInside)
        {
            throw Outside(path, shown);
        }

        if (!IsInside(real))
        {
            throw lexicallyInside
                ? new ToolSandboxException($"{shown} leads outside the workspace through a symbolic link")
                : Outside(path, shown);
        }

        if (missing.Count > 0)
        {
            // realpath reports a dangling link as missing; writing through it would create its target.
            if (Posix.TryStat(real + "/" + missing[0], followLinks: false, out _, out _))
            {
                throw new ToolSandboxException($"{shown} goes through a symbolic link whose target does not exist");
            }

            if (missing.Any(m => System.Text.Encoding.UTF8.GetByteCount(m) > MaxNameBytes))
            {
                throw new ToolSandboxException($"{shown}: a file name is longer than {MaxNameBytes} bytes");
            }

            string full = real == "/" ? "/" + string.Join('/', missing) : real + "/" + string.Join('/', missing);
            return new WorkspaceEntry(path, full, RelativePath(full), WorkspaceEntryKind.Missing, 0, real, [.. missing]);
        }

        if (!Posix.TryStat(real, followLinks: true, out var status, out int statErrno))
        {
            throw new ToolSandboxException($"{shown}: {Posix.Describe(statErrno)}");
        }

        CheckUsable(status, shown);
        var kind = status.IsDirectory ? WorkspaceEntryKind.Directory : WorkspaceEntryKind.File;
        return new WorkspaceEntry(path, real, RelativePath(real), kind, (long)status.Size, real, []);
    }

    /// <summary>
    /// Lets the kernel resolve the longest existing prefix of <paramref name="combined"/>; what is left must be plain
    /// names that do not exist yet.
    /// </summary>
    private static (string Real, List<string> Missing) ResolveExistingPrefix(string combined, string shown)
    {
        string current = TrimTrailingSlashes(combined);
        var missing = new List<string>();
        string? real;
        while ((real = Posix.RealPath(current, out int errno)) is null)
        {
            if (errno != Posix.ENOENT)
            {
                throw new ToolSandboxException($"{shown}: {Posix.Describe(errno)}");
            }

            int slash = current.LastIndexOf('/');
            string name = current[(slash + 1)..];
            if (name == "..")
            {
                throw new ToolSandboxException($"{shown} does not exist ('..' follows a directory that does not exist)");
            }

            if (name.Length > 0 && name != ".")
            {
                missing.Insert(0, name);
            }

            current = slash <= 0 ? "/" : TrimTrailingSlashes(current[..slash]);
        }

        return (real, missing);
    }

    /// <summary>The path relative to the root with '/' separators, "." for the root itself.</summary>
    public string RelativePath(string fullPath) =>
        fullPath == Root ? "." : fullPath.StartsWith(Root + "/", StringComparison.Ordinal) ? fullPath[(Root.Length + 1)..] : fullPath;

    internal bool IsInside(string fullPath) =>
        fullPath == Root || fullPath.StartsWith(Root + "/", StringComparison.Ordinal);

    /// <summary>Refuses what is neither a regular file nor a directory, and files with several hard links.</summary>
    internal static void CheckUsable(FileStatus status, string shown)
    {
        if (!status.IsRegularFile && !status.IsDirectory)
        {
            throw new ToolSandboxException($"{shown} is {status.KindDescription}; only regular files and directories can be used");
        }

        if (status.IsRegularFile && status.LinkCount > 1)
        {
            throw new ToolSandboxException(
                $"{shown} has {status.LinkCount} hard links; files with more than one hard link are refused because another link may be outside the workspace");
        }
    }

    /// <summary>A path as shown in messages: quoted, and shortened when the model sent something huge.</summary>
    internal static string Quote(string path)
    {
        const int maxShown = 200;
        return path.Length <= maxShown ? $"'{path}'" : $"'{path[..maxShown]}…' ({path.Length} characters)";
    }

    private ToolSandboxException Outside(string path, string shown)
    {
        string full = System.IO.Path.GetFullPath(path.StartsWith('/') ? path : Root + "/" + path);
        return ForbiddenRoots.Any(f => full == f || full.StartsWith(f + "/", StringComparison.Ordinal))
            ? new ToolSandboxException($"{shown} is outside the workspace ({Root}); /proc, /sys and /dev are never accessible")
            : new ToolSandboxException($"{shown} is outside the workspace ({Root}); paths must stay inside it");
    }

    private static string TrimTrailingSlashes(string path)
    {
        string trimmed = path.TrimEnd('/');
        return trimmed.Length == 0 ? "/" : trimmed;
    }
}

public enum WorkspaceEntryKind
{
    /// <summary>Nothing there yet; <see cref="WorkspaceEntry.FullPath"/> is where it would be created.</summary>
    Missing,
    File,
    Directory,
}

/// <summary>A path resolved inside the workspace.</summary>
public sealed class WorkspaceEntry
{
    internal WorkspaceEntry(string path, string fullPath, string relativePath, WorkspaceEntryKind kind, long size, string existingAncestor, string[] missingNames)
    {
        Path = path;
        FullPath = fullPath;
        RelativePath = relativePath;
        Kind = kind;
        Size = size;
        ExistingAncestor = existingAncestor;
        MissingNames = missingNames;
    }

    /// <summary>The path as the caller gave it (used in messages).</summary>
    public string Path { get; }

    /// <summary>The real absolute path; for a missing entry, its deepest existing ancestor's real path plus the missing names.</summary>
    public string FullPath { get; }

    /// <summary>Relative to the workspace root, '/'-separated, "." for the root.</summary>
    public string RelativePath { get; }

    public WorkspaceEntryKind Kind { get; }

    /// <summary>Bytes, for files.</summary>
    public long Size { get; }

    /// <summary>The deepest existing directory on the way (the entry itself when it exists).</summary>
    internal string ExistingAncestor { get; }

    /// <summary>Names below <see cref="ExistingAncestor"/> that do not exist yet, the last being the entry's own.</summary>
    internal string[] MissingNames { get; }

    internal string Shown => Workspace.Quote(Path);
}
