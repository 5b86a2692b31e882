using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Tern.Tools;

/// <summary>
/// <c>get_info()</c>, llama-server's name for it: the operating system, the workspace root, a git status summary
/// (branch, upstream with commits ahead and behind, counts of changed and untracked files; or that the workspace is
/// not a repository, or that git is not installed) and the current time as <see cref="TimeTool"/> writes it.
/// git runs through the shell tool's sandbox (same options, limits and timeout rules), never directly on the host: a
/// repository's own configuration can run commands (fsmonitor, filters), and the workspace is the model's to write.
/// So git runs only where commands may (<paramref name="runGit"/>: the shell tool is enabled); otherwise the branch is
/// read from <c>.git/HEAD</c> and the status is not checked.
/// </summary>
public sealed class GetInfoTool(ShellOptions? shell = null, bool runGit = true) : Tool
{
    private const int GitTimeoutSeconds = 10;

    private const string NoGit = "#tern no-git";
    private const string Counts = "#tern counts ";

    /// <summary>git's summary, reduced in the sandbox to the branch lines, the first error and the two counts.</summary>
    private static readonly string GitCommand =
        $"command -v git >/dev/null 2>&1 || {{ echo '{NoGit}'; exit 0; }}; " +
        "git -c core.fsmonitor=false -c core.hooksPath=/dev/null -c safe.directory='*' --no-optional-locks status --porcelain=v2 --branch 2>&1 | " +
        $"awk '/^# branch\\./ {{ print; next }} /^(fatal|error):/ {{ if (!e++) print; next }} /^[12u] / {{ c++; next }} /^\\? / {{ u++ }} END {{ print \"{Counts}\" c+0 \" \" u+0 }}'";

    private readonly ShellTool _shell = new(shell);

    public override string Name => "get_info";

    public override string Description => "OS, workspace root, git status and current time.";

    public override IReadOnlyList<ToolParameter> Parameters { get; } = [];

    protected override async Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context)
    {
        string git = await GitSummaryAsync(context).ConfigureAwait(false);
        string text =
            $"os: {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()})\n" +
            $"workspace: {context.Workspace.Root}\n" +
            $"git: {git}\n" +
            $"time: {TimeTool.Now(context.Clock)}";
        return ToolResult.Success(text);
    }

    private async Task<string> GitSummaryAsync(ToolContext context)
    {
        if (!runGit)
        {
            return HeadBranch(context.Workspace) + " (status not checked: git runs only when the shell tool is enabled, since a repository's config can run commands)";
        }

        using var call = JsonDocument.Parse(JsonSerializer.Serialize(new { command = GitCommand, timeout = GitTimeoutSeconds }));
        var run = await _shell.ExecuteAsync(call.RootElement, context).ConfigureAwait(false);
        if (!run.Ok)
        {
            return "unknown (" + run.Error + ")";
        }

        return Summarize(run.Output.Split('\n'));
    }

    /// <summary>The branch <c>.git/HEAD</c> names (or its commit when detached), read inside the workspace's confinement.</summary>
    private static string HeadBranch(Workspace workspace)
    {
        try
        {
            var head = workspace.Resolve(".git/HEAD");
            if (!File.Exists(head.FullPath))
            {
                return "not a git repository";
            }

            using var stream = workspace.OpenRead(head.FullPath, head.Shown);
            using var reader = new StreamReader(stream);
            string line = (reader.ReadLine() ?? "").Trim();
            const string Ref = "ref: refs/heads/";
            return line.StartsWith(Ref, StringComparison.Ordinal) ? "branch " + line[Ref.Length..] : "detached at " + line[..Math.Min(12, line.Length)];
        }
        catch (Exception e) when (e is ToolSandboxException or IOException or UnauthorizedAccessException)
        {
            return "unknown (" + e.Message + ")";
        }
    }

    /// <summary>The summary line from the sandboxed command's output lines.</summary>
    internal static string Summarize(IReadOnlyList<string> lines)
    {
        if (lines.Contains(NoGit))
        {
            return "git is not installed";
        }

        string? error = lines.FirstOrDefault(l => l.StartsWith("fatal:", StringComparison.Ordinal) || l.StartsWith("error:", StringComparison.Ordinal));
        if (error is not null)
        {
            return error.Contains("not a git repository", StringComparison.Ordinal) ? "not a git repository" : "unknown (" + error + ")";
        }

        string? Value(string key) => lines.FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal))?[key.Length..].Trim();
        var summary = new StringBuilder("branch ").Append(Value("# branch.head ") ?? "unknown");
        if (Value("# branch.upstream ") is { } upstream)
        {
            summary.Append(", upstream ").Append(upstream);
            if (Value("# branch.ab ")?.Split(' ') is [var ahead, var behind])
            {
                summary.Append(" (").Append(ahead.TrimStart('+')).Append(" ahead, ").Append(behind.TrimStart('-')).Append(" behind)");
            }
        }
        else
        {
            summary.Append(" (no upstream)");
        }

        if (Value(Counts)?.Split(' ') is [var changed, var untracked])
        {
            summary.Append(", ").Append(changed).Append(" changed, ").Append(untracked).Append(" untracked");
        }

        return summary.ToString();
    }
}
