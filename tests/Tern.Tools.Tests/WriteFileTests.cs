using System.Text;
using Tern.Tools;

namespace Tern.Tools.Tests;

public sealed class WriteFileTests
{
    [Fact]
    public void Creates_the_file_and_its_parent_directories()
    {
        using var h = new ToolHarness();

        var result = h.Call("write_file", new { path = "a/b/c/new.txt", content = "hello" });

        Assert.True(result.Ok, result.Output);
        Assert.Equal("wrote 5 bytes to a/b/c/new.txt (new file)", result.Output);
        Assert.Equal("hello", File.ReadAllText(h.InWorkspace("a/b/c/new.txt")));
    }

    [Fact]
    public void Replaces_an_existing_file_and_keeps_its_permissions()
    {
        using var h = new ToolHarness();
        string path = h.WriteWorkspaceFile("run.sh", "old");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var result = h.Call("write_file", new { path = "run.sh", content = "#!/bin/sh\necho new\n" });

        Assert.Equal("wrote 19 bytes to run.sh (replaced)", result.Output);
        Assert.Equal("#!/bin/sh\necho new\n", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Leaves_no_temporary_files_behind()
    {
        using var h = new ToolHarness();
        h.Call("write_file", new { path = "x.txt", content = "1" });
        h.Call("write_file", new { path = "x.txt", content = "2" });
        h.Call("write_file", new { path = "d/y.txt", content = "3" });

        Assert.Equal(["d/y.txt", "x.txt"], h.WorkspaceFiles());
    }

    [Fact]
    public void A_write_that_fails_before_the_rename_leaves_the_old_content_and_no_temporary_file()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("keep.txt", "old content");
        var entry = h.Tools.Workspace.Resolve("keep.txt");

        Assert.Throws<IOException>(() => h.Tools.Workspace.WriteAtomically(entry, Encoding.UTF8.GetBytes("new content"), () => throw new IOException("disk full")));

        Assert.Equal("old content", File.ReadAllText(h.InWorkspace("keep.txt")));
        Assert.Equal(["keep.txt"], h.WorkspaceFiles());
    }

    [Fact]
    public void Readers_see_the_old_or_the_new_content_never_a_mix()
    {
        using var h = new ToolHarness();
        string path = h.WriteWorkspaceFile("swap.txt", new string('a', 100_000));
        var entry = h.Tools.Workspace.Resolve("swap.txt");
        string? seenBeforeRename = null;

        h.Tools.Workspace.WriteAtomically(entry, Encoding.UTF8.GetBytes(new string('b', 100_000)), () => seenBeforeRename = File.ReadAllText(path));

        Assert.Equal(new string('a', 100_000), seenBeforeRename);
        Assert.Equal(new string('b', 100_000), File.ReadAllText(path));
    }

    [Fact]
    public void Content_over_the_cap_is_refused_and_nothing_is_written()
    {
        using var h = new ToolHarness(new FileToolLimits { MaxWriteBytes = 10 });

        var result = h.Call("write_file", new { path = "big.txt", content = new string('x', 11) });

        Assert.Equal("error: content is 11 bytes; write_file accepts at most 10 bytes", result.Output);
        Assert.Empty(h.WorkspaceFiles());
    }

    [Fact]
    public void Writing_over_a_directory_is_refused()
    {
        using var h = new ToolHarness();
        Directory.CreateDirectory(h.InWorkspace("dir"));

        Assert.Equal("error: 'dir' is a directory", h.Call("write_file", new { path = "dir", content = "x" }).Output);
    }

    [Fact]
    public void Writing_below_a_file_is_refused()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("file.txt", "x");

        var result = h.Call("write_file", new { path = "file.txt/child.txt", content = "x" });

        Assert.False(result.Ok);
        Assert.Contains("not a directory", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Writing_through_a_symlink_inside_the_workspace_replaces_the_real_file()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("real.txt", "old");
        File.CreateSymbolicLink(h.InWorkspace("alias.txt"), "real.txt");

        var result = h.Call("write_file", new { path = "alias.txt", content = "new" });

        Assert.Equal("wrote 3 bytes to real.txt (replaced)", result.Output);
        Assert.Equal("new", File.ReadAllText(h.InWorkspace("real.txt")));
        Assert.NotNull(new FileInfo(h.InWorkspace("alias.txt")).LinkTarget);
    }

    [Fact]
    public void Missing_arguments_are_reported_together()
    {
        using var h = new ToolHarness();

        var result = h.Tools.Invoke("write_file", "{}", "r");

        Assert.Equal("error: missing required argument 'path'; missing required argument 'content'", result.Output);
    }
}
