using System.Diagnostics;
using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>
/// get_info: OS, workspace root, git summary (git runs in the shell sandbox, so these tests need bubblewrap and git,
/// as the shell tests do) and the time.
/// </summary>
public sealed class WorkspaceInfoTests
{
    private static readonly TimeToolTests.FixedClock Clock = new(new DateTimeOffset(2026, 12, 1, 7, 30, 0, TimeSpan.Zero), TimeZoneInfo.Utc);

    [Fact]
    public async Task Outside_a_repository_it_says_so_with_os_workspace_and_time()
    {
        using var h = new ToolHarness(clock: Clock);

        var result = await h.CallAsync("get_info", new { });

        Assert.True(result.Ok, result.Output);
        string[] lines = result.Output.Split('\n');
        Assert.StartsWith("os: ", lines[0], StringComparison.Ordinal);
        Assert.Contains("Linux", lines[0], StringComparison.Ordinal);
        Assert.Equal($"workspace: {h.Tools.Workspace.Root}", lines[1]);
        Assert.Equal("git: not a git repository", lines[2]);
        Assert.Equal("time: 2026-12-01T07:30:00+00:00 (UTC), Tuesday", lines[3]);
    }

    [Fact]
    public async Task In_a_repository_it_summarizes_branch_upstream_and_changes()
    {
        using var h = new ToolHarness(clock: Clock);
        h.WriteWorkspaceFile("a.txt", "one\n");
        Git(h, "init -q -b main");
        Git(h, "add a.txt");
        Git(h, "commit -q -m first");
        h.WriteWorkspaceFile("a.txt", "two\n");
        Git(h, "commit -q -am second");
        // origin/main: the first commit plus one of its own, so main is 1 ahead and 1 behind
        string first = Git(h, "rev-parse HEAD~1");
        string theirs = Git(h, $"commit-tree -p {first} -m theirs HEAD~1^{{tree}}");
        Git(h, $"update-ref refs/remotes/origin/main {theirs}");
        Git(h, "config remote.origin.url /nonexistent");
        Git(h, "config remote.origin.fetch +refs/heads/*:refs/remotes/origin/*");
        Git(h, "config branch.main.remote origin");
        Git(h, "config branch.main.merge refs/heads/main");
        h.WriteWorkspaceFile("a.txt", "three\n");
        h.WriteWorkspaceFile("new1.txt", "");
        h.WriteWorkspaceFile("dir/new2.txt", "");

        var result = await h.CallAsync("get_info", new { });

        Assert.True(result.Ok, result.Output);
        Assert.Equal("git: branch main, upstream origin/main (1 ahead, 1 behind), 1 changed, 2 untracked", result.Output.Split('\n')[2]);
    }

    [Fact]
    public async Task A_repository_configuration_cannot_make_it_run_commands()
    {
        using var h = new ToolHarness(clock: Clock);
        Git(h, "init -q -b main");
        string marker = h.InWorkspace("fsmonitor-ran");
        File.AppendAllText(h.InWorkspace(".git/config"), $"[core]\n\tfsmonitor = \"touch {marker}; false\"\n");

        var result = await h.CallAsync("get_info", new { });

        Assert.Contains("\ngit: branch main (no upstream), 0 changed, 0 untracked\n", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task Without_the_shell_tool_git_does_not_run_so_a_filter_the_model_wrote_cannot_run()
    {
        // File tools only: a clean filter in .git/config (which write_file can write) must not become a way to run commands.
        using var h = new ToolHarness(clock: Clock, selection: "write_file,get_info");
        Git(h, "init -q -b work");
        h.WriteWorkspaceFile("a.txt", "one\n");
        Git(h, "add a.txt");
        string marker = h.InWorkspace("filter-ran");
        File.AppendAllText(h.InWorkspace(".git/config"), $"[filter \"x\"]\n\tclean = \"touch {marker}; cat\"\n");
        h.WriteWorkspaceFile(".gitattributes", "*.txt filter=x\n");
        h.WriteWorkspaceFile("a.txt", "two\n");

        var result = await h.CallAsync("get_info", new { });

        Assert.True(result.Ok, result.Output);
        Assert.StartsWith("git: branch work (status not checked: git runs only when the shell tool is enabled", result.Output.Split('\n')[2], StringComparison.Ordinal);
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData("#tern no-git", "git is not installed")]
    [InlineData("fatal: not a git repository (or any of the parent directories): .git\n#tern counts 0 0", "not a git repository")]
    [InlineData("fatal: unsafe repository\n#tern counts 0 0", "unknown (fatal: unsafe repository)")]
    [InlineData("# branch.oid (initial)\n# branch.head (detached)\n#tern counts 3 0", "branch (detached) (no upstream), 3 changed, 0 untracked")]
    public void The_summary_reads_the_sandboxed_output(string output, string expected) =>
        Assert.Equal(expected, GetInfoTool.Summarize(output.Split('\n')));

    private static string Git(ToolHarness h, string arguments)
    {
        var start = new ProcessStartInfo("git", $"-c user.name=t -c user.email=t@example.com {arguments}")
        {
            WorkingDirectory = h.Workspace,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var git = Process.Start(start)!;
        string output = git.StandardOutput.ReadToEnd();
        string error = git.StandardError.ReadToEnd();
        git.WaitForExit();
        Assert.True(git.ExitCode == 0, $"git {arguments}: {error}");
        return output.Trim();
    }
}
