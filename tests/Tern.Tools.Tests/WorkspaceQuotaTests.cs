using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>The workspace quota as write_file and edit_file see it, and how usage is measured.</summary>
public sealed class WorkspaceQuotaTests
{
    private const int KiB = 1024;

    [Fact]
    public void Write_file_over_the_quota_is_refused_naming_the_quota_and_usage()
    {
        using var h = new ToolHarness(quota: 256 * KiB);
        string content = new('x', 100 * KiB);

        var first = h.Call("write_file", new { path = "a.txt", content });
        var second = h.Call("write_file", new { path = "b.txt", content });
        var third = h.Call("write_file", new { path = "c.txt", content });
        var replaced = h.Call("write_file", new { path = "a.txt", content });

        Assert.True(first.Ok, first.Output);
        Assert.True(second.Ok, second.Output);
        Assert.False(third.Ok);
        Assert.Matches(@"^error: write_file refused: writing 'c\.txt' would add 100 KiB to the workspace, over its quota \(2\d\d(\.\d)? KiB of 256 KiB in use\); " +
                       "delete files to make room", third.Output);
        Assert.False(File.Exists(h.InWorkspace("c.txt")));
        Assert.True(replaced.Ok, replaced.Output); // same size: no growth
    }

    [Fact]
    public void Edit_file_that_would_grow_the_workspace_over_the_quota_is_refused()
    {
        using var h = new ToolHarness(quota: 128 * KiB);
        h.WriteWorkspaceFile("notes.txt", "start MARK end\n");

        var grown = h.Call("edit_file", new { path = "notes.txt", old_text = "MARK", new_text = new string('y', 200 * KiB) });
        var small = h.Call("edit_file", new { path = "notes.txt", old_text = "MARK", new_text = "mark" });

        Assert.False(grown.Ok);
        Assert.StartsWith("error: edit_file refused: writing 'notes.txt' would add 200 KiB to the workspace, over its quota (", grown.Output, StringComparison.Ordinal);
        Assert.True(small.Ok, small.Output);
        Assert.Equal("start mark end\n", File.ReadAllText(h.InWorkspace("notes.txt")));
    }

    [Fact]
    public void Usage_counts_allocated_blocks_once_per_file_and_does_not_follow_links()
    {
        using var h = new ToolHarness();
        h.WriteOutsideFile("huge.bin", new string('x', 4 << 20));
        string file = h.WriteWorkspaceFile("data.bin", new string('x', 1 << 20));
        Directory.CreateSymbolicLink(h.InWorkspace("outside-link"), h.Outside);
        Assert.Equal(0, Posix.Link(file, h.InWorkspace("data-again.bin")));
        using (var sparse = File.Create(h.InWorkspace("sparse.bin")))
        {
            sparse.SetLength(1L << 30);
        }

        var usage = h.Tools.Workspace.Quota.Measure();

        // 1 MiB of data plus directory and link blocks: not the linked 4 MiB, the hard link twice or the sparse 1 GiB.
        Assert.True(usage.Complete);
        Assert.InRange(usage.Bytes, 1 << 20, (1 << 20) + (64 * KiB));
    }

    [Fact]
    public void Default_quota_is_the_size_at_start_plus_one_gibibyte()
    {
        using var h = new ToolHarness();

        Assert.Equal(h.Tools.Workspace.Quota.Measure().Bytes + (1L << 30), h.Tools.Workspace.Quota.LimitBytes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void A_quota_that_is_not_positive_is_refused(long quota)
    {
        using var temp = new TempDirectory();

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Workspace(temp.FullPath, quota));

        Assert.Contains("the workspace quota must be positive", e.Message, StringComparison.Ordinal);
    }
}
