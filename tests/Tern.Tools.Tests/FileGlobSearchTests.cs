using Tern.Tools;

namespace Tern.Tools.Tests;

public sealed class FileGlobSearchTests
{
    private static ToolHarness WithTree(FileToolLimits? limits = null)
    {
        var h = new ToolHarness(limits);
        h.WriteWorkspaceFile("src/App.cs", "");
        h.WriteWorkspaceFile("src/Lib/Util.cs", "");
        h.WriteWorkspaceFile("src/settings.json", "");
        h.WriteWorkspaceFile("lib/src/other.json", "");
        h.WriteWorkspaceFile("README.md", "");
        return h;
    }

    [Fact]
    public void A_name_glob_matches_at_any_depth_and_paths_come_sorted()
    {
        using var h = WithTree();

        Assert.Equal("src/App.cs\nsrc/Lib/Util.cs\n", h.Call("file_glob_search", new { include = "*.cs" }).Output);
        Assert.Equal("README.md\nlib/src/other.json\nsrc/App.cs\nsrc/Lib/Util.cs\nsrc/settings.json\n", h.Call("file_glob_search", new { }).Output);
    }

    [Fact]
    public void A_glob_with_a_slash_matches_at_any_depth_unless_anchored_as_llama_server_does()
    {
        using var h = WithTree();

        Assert.Equal("lib/src/other.json\nsrc/settings.json\n", h.Call("file_glob_search", new { include = "src/*.json" }).Output);
        Assert.Equal("src/settings.json\n", h.Call("file_glob_search", new { include = "/src/*.json" }).Output);
        Assert.Equal("src/App.cs\nsrc/Lib/Util.cs\n", h.Call("file_glob_search", new { include = "**/*.cs" }).Output);
    }

    [Fact]
    public void Path_narrows_and_paths_are_relative_to_it_exclude_leaves_files_out()
    {
        using var h = WithTree();

        Assert.Equal("App.cs\nLib/Util.cs\nsettings.json\n", h.Call("file_glob_search", new { path = "src" }).Output);
        Assert.Equal("lib/src/other.json\nsrc/settings.json\n", h.Call("file_glob_search", new { exclude = "*.{cs,md}" }).Output);
    }

    [Fact]
    public void Results_are_cut_at_the_limit_with_a_note_and_huge_limits_are_refused()
    {
        using var h = new ToolHarness();
        for (int i = 0; i < 12; i++)
            h.WriteWorkspaceFile($"f{i:00}.txt", "");

        Assert.Equal("f00.txt\nf01.txt\nf02.txt\n[3 of 12 matches shown; narrow the glob or raise limit]", h.Call("file_glob_search", new { limit = 3 }).Output);
        Assert.Equal("error: argument 'limit' must be at most 1000", h.Call("file_glob_search", new { limit = 1_000_000 }).Output);
        Assert.Equal("error: argument 'limit' must be at least 1", h.Call("file_glob_search", new { limit = 0 }).Output);
    }

    [Fact]
    public void No_match_says_so()
    {
        using var h = WithTree();

        Assert.Equal("no matches", h.Call("file_glob_search", new { include = "*.py" }).Output);
    }

    [Fact]
    public void Gitignore_files_at_the_root_and_below_are_honoured_and_git_is_skipped()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile(".gitignore", "*.log\nbin/\n/top.txt\n!keep.log\n");
        h.WriteWorkspaceFile("a.log", "");
        h.WriteWorkspaceFile("keep.log", "");
        h.WriteWorkspaceFile("top.txt", "");
        h.WriteWorkspaceFile("sub/top.txt", "");
        h.WriteWorkspaceFile("bin/tool", "");
        h.WriteWorkspaceFile("sub/bin/x", "");
        h.WriteWorkspaceFile("sub/.gitignore", "*.tmp\n!wanted.log\n");
        h.WriteWorkspaceFile("sub/x.tmp", "");
        h.WriteWorkspaceFile("sub/wanted.log", "");
        h.WriteWorkspaceFile("sub/other.log", "");
        h.WriteWorkspaceFile("x.tmp", "");
        h.WriteWorkspaceFile(".git/config", "");

        Assert.Equal(".gitignore\nkeep.log\nsub/.gitignore\nsub/top.txt\nsub/wanted.log\nx.tmp\n", h.Call("file_glob_search", new { }).Output);
        // the rules of the directories above the searched one apply too
        Assert.Equal(".gitignore\ntop.txt\nwanted.log\n", h.Call("file_glob_search", new { path = "sub" }).Output);
    }

    [Fact]
    public void Hostile_paths_stay_inside_the_workspace()
    {
        using var h = WithTree();
        h.WriteOutsideFile("secret.txt", "");

        Assert.StartsWith("error: '../outside' is outside the workspace", h.Call("file_glob_search", new { path = "../outside" }).Output, StringComparison.Ordinal);
        Assert.StartsWith("error: '/etc' is outside the workspace", h.Call("file_glob_search", new { path = "/etc" }).Output, StringComparison.Ordinal);
        Assert.Equal("no matches", h.Call("file_glob_search", new { include = "../outside/*" }).Output);
        Assert.Equal("no matches", h.Call("file_glob_search", new { include = "/../outside/*" }).Output);
        Assert.Equal("error: 'README.md' is a file, not a directory", h.Call("file_glob_search", new { path = "README.md" }).Output);
        Assert.Equal("error: 'nope' does not exist", h.Call("file_glob_search", new { path = "nope" }).Output);
    }

    [Fact]
    public void Symlinks_are_neither_followed_nor_listed()
    {
        using var h = new ToolHarness();
        h.WriteOutsideFile("secret.txt", "");
        h.WriteWorkspaceFile("real.txt", "");
        Directory.CreateSymbolicLink(h.InWorkspace("out"), h.Outside);
        File.CreateSymbolicLink(h.InWorkspace("secret-link.txt"), h.InOutside("secret.txt"));
        Directory.CreateSymbolicLink(h.InWorkspace("loop"), h.Workspace);
        File.CreateSymbolicLink(h.InWorkspace(".gitignore"), h.WriteOutsideFile("ignore", "real.txt\n"));

        Assert.Equal("real.txt\n", h.Call("file_glob_search", new { }).Output);
        Assert.StartsWith("error: 'out' leads outside the workspace", h.Call("file_glob_search", new { path = "out" }).Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_walk_stops_after_the_entry_bound_with_a_note()
    {
        using var h = new ToolHarness(new FileToolLimits { MaxGlobEntries = 10 });
        for (int i = 0; i < 30; i++)
            h.WriteWorkspaceFile($"d{i:00}/f.txt", "");

        var result = h.Call("file_glob_search", new { include = "nothing-matches" });

        Assert.Equal("no matches\n[stopped after 10 files and directories; the list is incomplete, narrow the path]", result.Output);
    }

    [Fact]
    public void Pathological_globs_stay_bounded()
    {
        using var h = WithTree();
        string deep = string.Concat(Enumerable.Repeat("**/", 300)) + "*.cs";
        string stars = string.Concat(Enumerable.Repeat("*a", 400)) + "b";

        Assert.Equal("src/App.cs\nsrc/Lib/Util.cs\n", h.Call("file_glob_search", new { include = deep }).Output);
        Assert.Equal("no matches", h.Call("file_glob_search", new { include = stars }).Output);
        Assert.StartsWith("error: the glob is longer than", h.Call("file_glob_search", new { include = new string('*', 5000) }).Output, StringComparison.Ordinal);
        Assert.StartsWith("error: the glob '[a' has an unclosed '['", h.Call("file_glob_search", new { include = "[a" }).Output, StringComparison.Ordinal);
    }
}
