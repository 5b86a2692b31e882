using Tern.Tools;

namespace Tern.Tools.Tests;

public sealed class GrepTests
{
    private static ToolHarness WithSources(FileToolLimits? limits = null)
    {
        var h = new ToolHarness(limits);
        h.WriteWorkspaceFile("src/App.cs", "class App\n{\n    // TODO: start\n}\n");
        h.WriteWorkspaceFile("src/Lib/Util.cs", "static class Util { } // TODO later\n");
        h.WriteWorkspaceFile("docs/notes.md", "TODO: write docs\nnothing\n");
        return h;
    }

    [Fact]
    public void Matches_are_listed_as_path_line_text_in_name_order()
    {
        using var h = WithSources();

        var result = h.Call("grep", new { pattern = "TODO" });

        Assert.Equal("docs/notes.md:1:TODO: write docs\nsrc/App.cs:3:    // TODO: start\nsrc/Lib/Util.cs:1:static class Util { } // TODO later\n", result.Output);
    }

    [Fact]
    public void Path_and_glob_narrow_the_search()
    {
        using var h = WithSources();

        Assert.Equal("src/App.cs:3:    // TODO: start\nsrc/Lib/Util.cs:1:static class Util { } // TODO later\n", h.Call("grep", new { pattern = "TODO", glob = "*.cs" }).Output);
        Assert.Equal("src/Lib/Util.cs:1:static class Util { } // TODO later\n", h.Call("grep", new { pattern = "TODO", glob = "src/**/Util.{cs,vb}" }).Output);
        Assert.Equal("src/Lib/Util.cs:1:static class Util { } // TODO later\n", h.Call("grep", new { pattern = "TODO", path = "src/Lib" }).Output);
        Assert.Equal("docs/notes.md:2:nothing\n", h.Call("grep", new { pattern = "^no", path = "docs/notes.md" }).Output);
    }

    [Fact]
    public void No_match_says_so()
    {
        using var h = WithSources();

        Assert.Equal("no matches", h.Call("grep", new { pattern = "(?i)fixme" }).Output);
    }

    [Fact]
    public void Results_are_cut_at_max_results_with_a_note()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", string.Concat(Enumerable.Range(1, 50).Select(i => $"hit {i}\n")));

        var result = h.Call("grep", new { pattern = "hit", max_results = 3 });

        Assert.Equal("a.txt:1:hit 1\na.txt:2:hit 2\na.txt:3:hit 3\n[results cut at 3 matching lines; narrow the pattern, path or glob, or raise max_results]", result.Output);
    }

    [Fact]
    public void Max_results_above_the_limit_is_an_argument_error()
    {
        using var h = new ToolHarness();

        Assert.Equal("error: argument 'max_results' must be at most 1000", h.Call("grep", new { pattern = "x", max_results = 5000 }).Output);
    }

    [Fact]
    public void Binary_large_and_hard_linked_files_are_skipped_and_counted()
    {
        using var h = new ToolHarness(new FileToolLimits { MaxGrepFileBytes = 1000 });
        h.WriteWorkspaceFile("text.txt", "needle\n");
        File.WriteAllBytes(h.InWorkspace("bin.dat"), [(byte)'n', (byte)'e', (byte)'e', (byte)'d', (byte)'l', (byte)'e', 0]);
        h.WriteWorkspaceFile("large.txt", "needle\n" + new string('x', 2000));
        string outside = h.WriteOutsideFile("secret.txt", "needle outside\n");
        Assert.Equal(0, Posix.Link(outside, h.InWorkspace("hard.txt")));

        var result = h.Call("grep", new { pattern = "needle" });

        Assert.Equal("text.txt:1:needle\n[skipped files: 1 binary, 1 larger than 1000 bytes, 1 unreadable or refused by the sandbox]", result.Output);
    }

    [Fact]
    public void Symlinks_are_not_followed_out_of_the_workspace()
    {
        using var h = new ToolHarness();
        h.WriteOutsideFile("secret.txt", "needle outside\n");
        Directory.CreateSymbolicLink(h.InWorkspace("out"), h.Outside);
        File.CreateSymbolicLink(h.InWorkspace("secret-link.txt"), h.InOutside("secret.txt"));

        Assert.Equal("no matches", h.Call("grep", new { pattern = "needle" }).Output);
        Assert.False(h.Call("grep", new { pattern = "needle", path = "out" }).Ok);
    }

    [Fact]
    public void Git_directories_are_skipped()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile(".git/config", "needle\n");
        h.WriteWorkspaceFile(".github/ci.yml", "needle\n");

        Assert.Equal(".github/ci.yml:1:needle\n", h.Call("grep", new { pattern = "needle" }).Output);
    }

    [Fact]
    public void Invalid_patterns_are_reported()
    {
        using var h = new ToolHarness();

        var result = h.Call("grep", new { pattern = "(unclosed" });

        Assert.False(result.Ok);
        Assert.StartsWith("error: invalid regular expression:", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Catastrophic_backtracking_without_backreferences_runs_in_linear_time()
    {
        using var h = new ToolHarness(new FileToolLimits { GrepMatchTimeout = TimeSpan.FromMilliseconds(100) });
        h.WriteWorkspaceFile("a.txt", new string('a', 5000) + "!\n");

        // (a+)+$ is exponential for a backtracking engine; the non-backtracking one answers at once.
        Assert.Equal("no matches", h.Call("grep", new { pattern = "^(a+)+$" }).Output);
    }

    [Fact]
    public void Catastrophic_backtracking_that_needs_the_backtracking_engine_times_out_with_an_error()
    {
        using var h = new ToolHarness(new FileToolLimits { GrepMatchTimeout = TimeSpan.FromMilliseconds(50) });
        h.WriteWorkspaceFile("a.txt", new string('a', 40) + "!\n");

        var result = h.Call("grep", new { pattern = @"^(a+)+\1b" });

        Assert.False(result.Ok);
        Assert.Contains("the pattern took longer than 0.05 s on one line of 'a.txt'", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Long_lines_are_shortened_in_results()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "needle" + new string('x', 1000) + "\n");

        string output = h.Call("grep", new { pattern = "needle" }).Output;

        Assert.Equal("a.txt:1:needle" + new string('x', 244) + "…\n", output);
    }

    [Theory]
    [InlineData("(a{1000}){1000}")]
    [InlineData("((((((((((a*)*)*)*)*)*)*)*)*)*)*b")]
    [InlineData(@"(?=(a+)+$)b")]
    [InlineData(@"(\w+\s?)+$")]
    [InlineData(".{0,65535}.{0,65535}x")]
    public void Hostile_patterns_end_with_a_result_or_an_error(string pattern)
    {
        using var h = new ToolHarness(new FileToolLimits { GrepMatchTimeout = TimeSpan.FromMilliseconds(50) });
        h.WriteWorkspaceFile("a.txt", new string('a', 3000) + " word word word word word word word word word word!\n");

        var result = h.Call("grep", new { pattern });

        Assert.True(result.Output == "no matches" || result.Output.StartsWith("error: ", StringComparison.Ordinal), result.Output);
    }

    [Fact]
    public void Files_the_glob_skips_count_against_the_file_cap()
    {
        using var h = new ToolHarness(FileToolLimits.Default with { MaxGrepFiles = 50 });
        for (int i = 0; i < 200; i++)
        {
            h.WriteWorkspaceFile($"f{i:D3}.txt", "TODO\n");
        }

        var result = h.Call("grep", new { pattern = "TODO", glob = "*.cs" });

        Assert.Equal("no matches\n[stopped after 50 files and directories; narrow the path or glob]", result.Output);
    }

    [Fact]
    public void Files_the_glob_skips_count_against_the_time_budget()
    {
        using var h = new ToolHarness(FileToolLimits.Default with { GrepTimeBudget = TimeSpan.Zero });
        for (int i = 0; i < 20; i++)
        {
            h.WriteWorkspaceFile($"f{i:D3}.txt", "TODO\n");
        }

        var result = h.Call("grep", new { pattern = "TODO", glob = "*.cs" });

        Assert.Equal("no matches\n[stopped after 0 s; the results are incomplete, narrow the path or glob]", result.Output);
    }

    [Theory]
    [InlineData("*[")]
    [InlineData("a[")]
    [InlineData("[")]
    [InlineData("[]")]
    [InlineData("src/[ab")]
    public void A_glob_with_an_unclosed_bracket_is_refused_with_a_message(string glob)
    {
        using var h = WithSources();

        var result = h.Call("grep", new { pattern = "TODO", glob });

        Assert.False(result.Ok);
        Assert.Equal($"the glob '{glob}' has an unclosed '['; write [[] for a literal '['", result.Error);
    }

    [Fact]
    public void A_literal_bracket_in_a_glob_is_written_as_a_set()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a[1].txt", "TODO\n");
        h.WriteWorkspaceFile("a1.txt", "TODO\n");

        Assert.Equal("a[1].txt:1:TODO\n", h.Call("grep", new { pattern = "TODO", glob = "a[[]1].txt" }).Output);
    }

    [Fact]
    public void A_huge_directory_is_read_as_a_stream_not_loaded_whole()
    {
        using var h = new ToolHarness(FileToolLimits.Default with { MaxGrepFiles = 100 });
        Directory.CreateDirectory(h.InWorkspace("big"));
        for (int i = 0; i < 20_000; i++)
        {
            File.WriteAllBytes(h.InWorkspace($"big/{i:D5}-{new string('x', 40)}.txt"), []);
        }

        h.Call("grep", new { pattern = "TODO", path = "big" }); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        var result = h.Call("grep", new { pattern = "TODO", path = "big" });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.EndsWith("[stopped after 100 files and directories; narrow the path or glob]", result.Output, StringComparison.Ordinal);
        Assert.True(allocated < 4 << 20, $"{allocated} bytes allocated for 100 of 20000 entries");
    }

    [Fact]
    public void A_small_directory_is_searched_in_name_order_whatever_the_order_files_were_made_in()
    {
        using var h = new ToolHarness();
        foreach (string name in new[] { "m.txt", "b.txt", "z.txt", "a.txt" })
        {
            h.WriteWorkspaceFile(name, "TODO\n");
        }

        Assert.Equal("a.txt:1:TODO\nb.txt:1:TODO\nm.txt:1:TODO\nz.txt:1:TODO\n", h.Call("grep", new { pattern = "TODO" }).Output);
    }
}
