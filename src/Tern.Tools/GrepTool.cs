using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Tern.Tools;

/// <summary>
/// <c>grep(pattern, path?, glob?, max_results?)</c>: a .NET regular expression matched against each line of the text
/// files under a directory (the workspace root by default) or in one file; output lines are <c>path:line:text</c>.
/// Matching uses the non-backtracking engine (linear time) whenever the pattern allows it, and otherwise the
/// backtracking one with a per-match timeout, so a catastrophic pattern ends in an error instead of a hang. The
/// walk does not follow symbolic links, skips <c>.git</c>, binary files, files over
/// <see cref="FileToolLimits.MaxGrepFileBytes"/> and anything the sandbox refuses, in name order (a directory of more
/// than 1024 entries is read as a stream, in the file system's order); results, output size, entries looked at
/// (whether the glob matches them or not) and wall-clock time are all bounded, and a note says when something was cut
/// or skipped.
/// </summary>
public sealed class GrepTool : Tool
{
    public const int MaxPatternLength = 2000;

    private const int MaxLineChars = 250;
    private const int MaxOutputBytes = 64 * 1024;
    private const int SortedDirectoryEntries = 1024;

    private readonly FileToolLimits _limits;

    public GrepTool(FileToolLimits? limits = null)
    {
        _limits = limits ?? FileToolLimits.Default;
        Parameters =
        [
            new("pattern", ToolParameterType.String, ".NET regex; (?i) ignores case.", Required: true),
            new("path", ToolParameterType.String, "Directory or file. Default: workspace root."),
            new("glob", ToolParameterType.String, "Only files matching, e.g. *.cs."),
            new("max_results", ToolParameterType.Integer, $"Default {_limits.DefaultGrepResults}.")
            {
                Minimum = 1,
                Maximum = _limits.MaxGrepResults,
            },
        ];
    }

    public override string Name => "grep";

    public override string Description =>
        "Find lines matching a regex in text files. Returns path:line:text.";

    public override IReadOnlyList<ToolParameter> Parameters { get; }

    protected override Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context) =>
        Task.FromResult(Search(arguments, context));

    private ToolResult Search(ToolArguments arguments, ToolContext context)
    {
        string patternText = arguments.GetString("pattern");
        if (patternText.Length > MaxPatternLength)
        {
            return ToolResult.Failure($"the pattern is longer than {MaxPatternLength} characters");
        }

        if (CompilePattern(patternText, out string? patternError) is not { } regex)
        {
            return ToolResult.Failure(patternError!);
        }

        var glob = arguments.GetOptionalString("glob") is { Length: > 0 } globText ? Glob.Parse(globText) : null;
        var workspace = context.Workspace;
        var entry = workspace.Resolve(arguments.GetOptionalString("path") is { Length: > 0 } p ? p : ".");
        if (entry.Kind == WorkspaceEntryKind.Missing)
        {
            return ToolResult.Failure($"{entry.Shown} does not exist");
        }

        var search = new SearchState(regex, (int)(arguments.GetOptionalInteger("max_results") ?? _limits.DefaultGrepResults));
        if (entry.Kind == WorkspaceEntryKind.File)
        {
            SearchFile(workspace, entry.FullPath, entry.Size, search, explicitFile: true);
        }
        else
        {
            Walk(workspace, entry.FullPath, glob, search, context.CancellationToken);
        }

        return search.TimedOutOn is { } file
            ? ToolResult.Failure(
                $"the pattern took longer than {_limits.GrepMatchTimeout.TotalSeconds:0.###} s on one line of {file}; it backtracks too much (nested quantifiers such as (a+)+ with a backreference or lookaround) — simplify it")
            : ToolResult.Success(search.Render(_limits));
    }

    private Regex? CompilePattern(string pattern, out string? error)
    {
        error = null;
        try
        {
            return new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
        }
        catch (NotSupportedException)
        {
            // Backreferences, lookarounds, atomic groups: only the backtracking engine has them; bound it by time.
        }
        catch (ArgumentException e)
        {
            error = $"invalid regular expression: {e.Message}";
            return null;
        }

        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant, _limits.GrepMatchTimeout);
        }
        catch (ArgumentException e)
        {
            error = $"invalid regular expression: {e.Message}";
            return null;
        }
    }

    private void Walk(Workspace workspace, string root, Glob? glob, SearchState search, CancellationToken cancellationToken)
    {
        var options = new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = 0, ReturnSpecialDirectories = false };
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0 && !search.Stopped)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var subdirectories = new List<string>();
            try
            {
                foreach (var child in Entries(pending.Pop(), options))
                {
                    // Every entry counts, the ones the glob skips too: a glob that matches nothing still ends.
                    if (++search.EntriesSeen > _limits.MaxGrepFiles)
                    {
                        search.FileLimitReached = true;
                    }
                    else if (search.Clock.Elapsed > _limits.GrepTimeBudget)
                    {
                        search.TimeBudgetSpent = true;
                    }

                    if (search.Stopped)
                    {
                        break;
                    }

                    if ((child.Attributes & FileAttributes.ReparsePoint) != 0)
                    {
                        continue; // symbolic links are not followed; their targets inside the workspace are found directly
                    }

                    if (child is DirectoryInfo)
                    {
                        if (child.Name != ".git")
                        {
                            subdirectories.Add(child.FullName);
                        }
                    }
                    else if (glob is null || glob.Matches(workspace.RelativePath(child.FullName)))
                    {
                        SearchFile(workspace, child.FullName, ((FileInfo)child).Length, search, explicitFile: false);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                search.SkippedOther++;
            }

            for (int i = subdirectories.Count - 1; i >= 0; i--)
            {
                pending.Push(subdirectories[i]);
            }
        }
    }

    /// <summary>
    /// A directory's entries as they are read, never all held at once: a directory of up to
    /// <see cref="SortedDirectoryEntries"/> entries comes in name order, a larger one in the file system's order.
    /// </summary>
    internal static IEnumerable<FileSystemInfo> Entries(string directory, EnumerationOptions options)
    {
        using var entries = new DirectoryInfo(directory).EnumerateFileSystemInfos("*", options).GetEnumerator();
        var head = new List<FileSystemInfo>();
        bool more = entries.MoveNext();
        while (more && head.Count < SortedDirectoryEntries)
        {
            head.Add(entries.Current);
            more = entries.MoveNext();
        }

        if (!more)
        {
            head.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        }

        foreach (var entry in head)
        {
            yield return entry;
        }

        for (; more; more = entries.MoveNext())
        {
            yield return entries.Current;
        }
    }

    private void SearchFile(Workspace workspace, string fullPath, long size, SearchState search, bool explicitFile)
    {
        string relative = workspace.RelativePath(fullPath);
        if (size > _limits.MaxGrepFileBytes)
        {
            search.SkippedLarge++;
            return;
        }

        string? text;
        try
        {
            using var stream = workspace.OpenRead(fullPath, Workspace.Quote(relative));
            var bytes = new byte[Math.Min(stream.Length, _limits.MaxGrepFileBytes)];
            stream.ReadExactly(bytes);
            text = TextFile.TryDecode(bytes, out _, out _);
        }
        catch (Exception e) when (!explicitFile && e is ToolSandboxException or IOException or UnauthorizedAccessException)
        {
            search.SkippedOther++;
            return;
        }

        if (text is null)
        {
            search.SkippedBinary++;
            return;
        }

        int lineNumber = 0;
        int position = 0;
        while (position < text.Length && !search.Stopped)
        {
            int newline = text.IndexOf('\n', position);
            int end = newline < 0 ? text.Length : newline;
            var line = text.AsSpan(position, end - position).TrimEnd('\r');
            lineNumber++;
            position = end + 1;
            try
            {
                if (search.Regex.IsMatch(line))
                {
                    search.Add(relative, lineNumber, line);
                }
            }
            catch (RegexMatchTimeoutException)
            {
                search.TimedOutOn = Workspace.Quote(relative);
                return;
            }

            if ((lineNumber & 1023) == 0 && search.Clock.Elapsed > _limits.GrepTimeBudget)
            {
                search.TimeBudgetSpent = true;
            }
        }
    }

    private static string Size(long bytes) =>
        bytes % (1 << 20) == 0 ? $"{bytes >> 20} MiB" : bytes % 1024 == 0 ? $"{bytes >> 10} KiB" : $"{bytes} bytes";

    private sealed class SearchState(Regex regex, int maxResults)
    {
        private readonly StringBuilder _output = new();
        private int _outputBytes;

        public Regex Regex { get; } = regex;

        public Stopwatch Clock { get; } = Stopwatch.StartNew();

        public int Matches { get; private set; }

        public bool ResultLimitReached { get; private set; }

        public bool OutputLimitReached { get; private set; }

        public bool FileLimitReached { get; set; }

        public bool TimeBudgetSpent { get; set; }

        public string? TimedOutOn { get; set; }

        public int EntriesSeen { get; set; }

        public int SkippedBinary { get; set; }

        public int SkippedLarge { get; set; }

        public int SkippedOther { get; set; }

        public bool Stopped => ResultLimitReached || OutputLimitReached || FileLimitReached || TimeBudgetSpent || TimedOutOn is not null;

        public void Add(string path, int lineNumber, ReadOnlySpan<char> line)
        {
            if (Matches == maxResults)
            {
                ResultLimitReached = true;
                return;
            }

            string text = line.Length > MaxLineChars ? string.Concat(line[..MaxLineChars], "…") : line.ToString();
            string entry = $"{path}:{lineNumber}:{text}\n";
            int bytes = Encoding.UTF8.GetByteCount(entry);
            if (_outputBytes + bytes > MaxOutputBytes)
            {
                OutputLimitReached = true;
                return;
            }

            _output.Append(entry);
            _outputBytes += bytes;
            Matches++;
        }

        public string Render(FileToolLimits limits)
        {
            var notes = new List<string>();
            if (ResultLimitReached)
            {
                notes.Add($"results cut at {maxResults} matching lines; narrow the pattern, path or glob, or raise max_results");
            }

            if (OutputLimitReached)
            {
                notes.Add($"results cut at {MaxOutputBytes} bytes of output after {Matches} matching lines; narrow the search");
            }

            if (FileLimitReached)
            {
                notes.Add($"stopped after {limits.MaxGrepFiles} files and directories; narrow the path or glob");
            }

            if (TimeBudgetSpent)
            {
                notes.Add($"stopped after {limits.GrepTimeBudget.TotalSeconds:0} s; the results are incomplete, narrow the path or glob");
            }

            var skipped = new List<string>();
            if (SkippedBinary > 0)
            {
                skipped.Add($"{SkippedBinary} binary");
            }

            if (SkippedLarge > 0)
            {
                skipped.Add($"{SkippedLarge} larger than {Size(limits.MaxGrepFileBytes)}");
            }

            if (SkippedOther > 0)
            {
                skipped.Add($"{SkippedOther} unreadable or refused by the sandbox");
            }

            if (skipped.Count > 0)
            {
                notes.Add("skipped files: " + string.Join(", ", skipped));
            }

            var text = new StringBuilder(_output.ToString());
            if (Matches == 0)
            {
                text.Append("no matches");
            }

            foreach (string note in notes)
            {
                AppendNote(text, note);
            }

            return text.ToString();
        }
    }
}
