using System.Text;

namespace Tern.Tools;

/// <summary>
/// <c>file_glob_search(include?, path?, exclude?, limit?)</c>, as llama-server names it: the files under a directory
/// (the workspace root by default) whose path matches a glob, one per line, relative to that directory and sorted. A
/// glob without '/' matches the file name at any depth (<c>*.cs</c>); one with '/' matches the relative path and,
/// unless it starts with <c>**</c> or '/', at any depth too (<c>src/*.json</c> also finds <c>lib/src/a.json</c>; write
/// <c>/src/*.json</c> for the top one only). Files that the <c>.gitignore</c> files from the workspace root down
/// ignore are left out, and so is <c>.git</c>. The walk does not follow symbolic links (nor lists them), never leaves
/// the workspace, and stops after <see cref="FileToolLimits.MaxGlobEntries"/> entries with a note.
/// </summary>
public sealed class FileGlobSearchTool : Tool
{
    private readonly FileToolLimits _limits;

    public FileGlobSearchTool(FileToolLimits? limits = null)
    {
        _limits = limits ?? FileToolLimits.Default;
        Parameters =
        [
            new("include", ToolParameterType.String, "Glob, e.g. *.cs or src/**/*.json. Default **."),
            new("path", ToolParameterType.String, "Default: workspace root."),
            new("exclude", ToolParameterType.String, "Glob to leave out."),
            new("limit", ToolParameterType.Integer, $"Default {_limits.DefaultGlobResults}.")
            {
                Minimum = 1,
                Maximum = _limits.MaxGlobResults,
            },
        ];
    }

    public override string Name => "file_glob_search";

    public override string Description => "Find files by glob, skipping .gitignored ones.";

    public override IReadOnlyList<ToolParameter> Parameters { get; }

    protected override Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context) =>
        Task.FromResult(Search(arguments, context));

    private ToolResult Search(ToolArguments arguments, ToolContext context)
    {
        var include = Glob.Parse(Anchor(arguments.GetOptionalString("include") is { Length: > 0 } i ? i : "**"));
        var exclude = arguments.GetOptionalString("exclude") is { Length: > 0 } e ? Glob.Parse(Anchor(e)) : null;
        int limit = (int)(arguments.GetOptionalInteger("limit") ?? _limits.DefaultGlobResults);
        var workspace = context.Workspace;
        var entry = workspace.Resolve(arguments.GetOptionalString("path") is { Length: > 0 } p ? p : ".");
        if (entry.Kind != WorkspaceEntryKind.Directory)
        {
            return ToolResult.Failure(entry.Kind == WorkspaceEntryKind.Missing ? $"{entry.Shown} does not exist" : $"{entry.Shown} is a file, not a directory");
        }

        var walk = new Walk(workspace, entry.FullPath, _limits.MaxGlobEntries, _limits.GrepTimeBudget, context.CancellationToken);
        var matches = walk.Collect(f => include.Matches(f) && exclude?.Matches(f) != true);
        matches.Sort(StringComparer.Ordinal);

        var text = new StringBuilder();
        foreach (string match in matches.Take(limit))
        {
            text.Append(match).Append('\n');
        }

        if (matches.Count == 0)
        {
            text.Append("no matches");
        }

        if (matches.Count > limit)
        {
            AppendNote(text, $"{limit} of {matches.Count} matches shown; narrow the glob or raise limit");
        }

        if (walk.StoppedBecause is { } reason)
        {
            AppendNote(text, $"{reason}; the list is incomplete, narrow the path");
        }

        return ToolResult.Success(text.ToString());
    }

    /// <summary>llama-server's rule: a glob with '/' matches at any depth unless it starts with ** or '/' (which anchors it).</summary>
    private static string Anchor(string glob) =>
        !glob.Contains('/', StringComparison.Ordinal) || glob.StartsWith("**", StringComparison.Ordinal) ? glob
        : glob.StartsWith('/') ? glob.TrimStart('/')
        : "**/" + glob;

    /// <summary>
    /// Walks the files under a directory (paths relative to it, in no particular order), with the .gitignore rules
    /// of the directories from the workspace root down; ignored directories are not entered. Stops after
    /// <paramref name="maxEntries"/> entries or <paramref name="budget"/> of wall-clock time.
    /// </summary>
    private sealed class Walk(Workspace workspace, string root, int maxEntries, TimeSpan budget, CancellationToken cancellation)
    {
        private static readonly EnumerationOptions Options = new() { IgnoreInaccessible = true, AttributesToSkip = 0, ReturnSpecialDirectories = false };

        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private int _entries;

        /// <summary>Why the walk stopped early, or null when it saw everything.</summary>
        public string? StoppedBecause { get; private set; }

        /// <summary>The files <paramref name="keep"/> accepts.</summary>
        public List<string> Collect(Func<string, bool> keep)
        {
            // The rules of the directories above the search root apply to it too.
            RuleChain? above = null;
            string relative = workspace.RelativePath(root);
            string current = workspace.Root;
            foreach (string name in relative == "." ? [] : relative.Split('/'))
            {
                above = WithRules(above, current);
                current += "/" + name;
            }

            var found = new List<string>();
            var pending = new Stack<(string Directory, RuleChain? Rules)>();
            pending.Push((root, above));
            while (pending.Count > 0 && StoppedBecause is null)
            {
                var (directory, inherited) = pending.Pop();
                var rules = WithRules(inherited, directory);
                try
                {
                    foreach (var child in GrepTool.Entries(directory, Options))
                    {
                        cancellation.ThrowIfCancellationRequested();
                        if (++_entries > maxEntries)
                        {
                            StoppedBecause = $"stopped after {maxEntries} files and directories";
                        }
                        else if (_clock.Elapsed > budget)
                        {
                            StoppedBecause = $"stopped after {budget.TotalSeconds:0.###} s";
                        }

                        if (StoppedBecause is not null)
                        {
                            break;
                        }

                        bool isDirectory = child is DirectoryInfo;
                        if ((child.Attributes & FileAttributes.ReparsePoint) != 0 || (isDirectory && child.Name == ".git") || Ignored(rules, child.FullName, isDirectory))
                        {
                            continue; // symbolic links are neither followed nor listed
                        }

                        string path = child.FullName[(root.Length + 1)..];
                        if (isDirectory)
                        {
                            pending.Push((child.FullName, rules));
                        }
                        else if (keep(path))
                        {
                            found.Add(path);
                        }
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // a directory that vanished or cannot be read lists nothing
                }
            }

            return found;
        }

        /// <summary>The deepest rule file that decides wins; a path no rule names is kept.</summary>
        private static bool Ignored(RuleChain? rules, string fullPath, bool isDirectory)
        {
            for (var r = rules; r is not null; r = r.Parent)
            {
                if (r.Rules.Decide(fullPath[(r.Directory.Length + 1)..], isDirectory) is { } decided)
                {
                    return decided;
                }
            }

            return false;
        }

        /// <summary>The chain with the directory's .gitignore added when it has a readable one inside the workspace (a link out, a huge file: none).</summary>
        private RuleChain? WithRules(RuleChain? chain, string directory)
        {
            string path = directory + "/.gitignore";
            if (!File.Exists(path))
            {
                return chain;
            }

            try
            {
                using var stream = workspace.OpenRead(path, Workspace.Quote(workspace.RelativePath(path)));
                if (stream.Length > GitIgnore.MaxFileBytes)
                {
                    return chain;
                }

                var bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
                return new RuleChain(directory, GitIgnore.Parse(Encoding.UTF8.GetString(bytes)), chain);
            }
            catch (Exception e) when (e is ToolSandboxException or IOException or UnauthorizedAccessException)
            {
                return chain; // an unreadable .gitignore ignores nothing
            }
        }

        private sealed record RuleChain(string Directory, GitIgnore Rules, RuleChain? Parent);
    }
}
