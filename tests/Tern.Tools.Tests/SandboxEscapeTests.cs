using System.Net.Sockets;
using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>Paths that try to leave the workspace, through every file tool: all refused, nothing outside read or changed.</summary>
public sealed class SandboxEscapeTests
{
    private const string Secret = "top secret outside content";

    public static TheoryData<string> FileTools => ["read_file", "write_file", "edit_file"];

    private static object ArgumentsFor(string tool, string path) => tool switch
    {
        "read_file" => new { path },
        "write_file" => new { path, content = "pwned" },
        "edit_file" => new { path, old_text = "top", new_text = "pwned" },
        _ => throw new ArgumentOutOfRangeException(nameof(tool)),
    };

    [Theory]
    [MemberData(nameof(FileTools))]
    public void Dot_dot_out_of_the_workspace_is_refused(string tool)
    {
        using var h = new ToolHarness();
        string secret = h.WriteOutsideFile("secret.txt", Secret);

        var result = h.Call(tool, ArgumentsFor(tool, "../outside/secret.txt"));

        Assert.False(result.Ok);
        Assert.Contains("'../outside/secret.txt' is outside the workspace", result.Output, StringComparison.Ordinal);
        Assert.Equal(Secret, File.ReadAllText(secret));
    }

    [Theory]
    [MemberData(nameof(FileTools))]
    public void Absolute_path_outside_is_refused(string tool)
    {
        using var h = new ToolHarness();
        string secret = h.WriteOutsideFile("secret.txt", Secret);

        var result = h.Call(tool, ArgumentsFor(tool, secret));

        Assert.False(result.Ok);
        Assert.Contains("is outside the workspace", result.Output, StringComparison.Ordinal);
        Assert.Equal(Secret, File.ReadAllText(secret));
    }

    [Fact]
    public void Absolute_path_inside_is_allowed()
    {
        using var h = new ToolHarness();
        string file = h.WriteWorkspaceFile("a.txt", "hello\n");

        var result = h.Call("read_file", new { path = file });

        Assert.True(result.Ok, result.Output);
        Assert.Equal("hello\n", result.Output);
    }

    [Fact]
    public void Dot_dot_that_stays_inside_is_allowed()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "hello\n");
        Directory.CreateDirectory(h.InWorkspace("sub"));

        Assert.True(h.Call("read_file", new { path = "sub/../a.txt" }).Ok);
    }

    [Theory]
    [MemberData(nameof(FileTools))]
    public void Symlink_inside_to_a_file_outside_is_refused(string tool)
    {
        using var h = new ToolHarness();
        string secret = h.WriteOutsideFile("secret-target.txt", Secret);
        File.CreateSymbolicLink(h.InWorkspace("link.txt"), secret);

        var result = h.Call(tool, ArgumentsFor(tool, "link.txt"));

        Assert.False(result.Ok);
        Assert.Contains("'link.txt' leads outside the workspace through a symbolic link", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-target", result.Output, StringComparison.Ordinal); // the link's target is not revealed
        Assert.Equal(Secret, File.ReadAllText(secret));
    }

    [Theory]
    [MemberData(nameof(FileTools))]
    public void Symlink_inside_to_a_directory_outside_is_refused(string tool)
    {
        using var h = new ToolHarness();
        string secret = h.WriteOutsideFile("secret.txt", Secret);
        Directory.CreateSymbolicLink(h.InWorkspace("linkdir"), h.Outside);

        var existing = h.Call(tool, ArgumentsFor(tool, "linkdir/secret.txt"));
        var created = h.Call("write_file", new { path = "linkdir/new/file.txt", content = "x" });

        Assert.False(existing.Ok);
        Assert.Contains("leads outside the workspace", existing.Output, StringComparison.Ordinal);
        Assert.False(created.Ok);
        Assert.Contains("leads outside the workspace", created.Output, StringComparison.Ordinal);
        Assert.Equal(Secret, File.ReadAllText(secret));
        Assert.Equal(["secret.txt"], Directory.GetFileSystemEntries(h.Outside).Select(Path.GetFileName));
    }

    [Fact]
    public void Symlink_chain_that_ends_outside_is_refused_and_one_that_ends_inside_is_followed()
    {
        using var h = new ToolHarness();
        string secret = h.WriteOutsideFile("secret.txt", Secret);
        h.WriteWorkspaceFile("real.txt", "inside\n");
        File.CreateSymbolicLink(h.InOutside("hop"), secret);
        File.CreateSymbolicLink(h.InWorkspace("a"), "b");
        File.CreateSymbolicLink(h.InWorkspace("b"), h.InOutside("hop"));
        File.CreateSymbolicLink(h.InWorkspace("c"), "d");
        File.CreateSymbolicLink(h.InWorkspace("d"), "real.txt");

        var outward = h.Call("read_file", new { path = "a" });
        var inward = h.Call("read_file", new { path = "c" });

        Assert.False(outward.Ok);
        Assert.Contains("leads outside the workspace", outward.Output, StringComparison.Ordinal);
        Assert.True(inward.Ok, inward.Output);
        Assert.Equal("inside\n", inward.Output);
    }

    [Fact]
    public void Symlink_loop_is_refused()
    {
        using var h = new ToolHarness();
        File.CreateSymbolicLink(h.InWorkspace("loop1"), "loop2");
        File.CreateSymbolicLink(h.InWorkspace("loop2"), "loop1");

        var result = h.Call("read_file", new { path = "loop1" });

        Assert.False(result.Ok);
        Assert.Contains("too many levels of symbolic links", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Dot_dot_after_a_symlink_means_what_it_means_to_the_kernel()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("deep/x/target.txt", "kernel semantics\n");
        Directory.CreateDirectory(h.InWorkspace("deep/x/y"));
        Directory.CreateSymbolicLink(h.InWorkspace("link"), h.InWorkspace("deep/x/y"));

        // link/.. is deep/x (the link's parent after following it), not the workspace root
        var result = h.Call("read_file", new { path = "link/../target.txt" });

        Assert.True(result.Ok, result.Output);
        Assert.Equal("kernel semantics\n", result.Output);
    }

    [Fact]
    public void Dangling_symlink_is_refused_and_its_target_is_not_created()
    {
        using var h = new ToolHarness();
        string target = h.InOutside("created-by-write.txt");
        File.CreateSymbolicLink(h.InWorkspace("dangling"), target);

        var result = h.Call("write_file", new { path = "dangling", content = "escape" });

        Assert.False(result.Ok);
        Assert.Contains("symbolic link whose target does not exist", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(target));
    }

    [Theory]
    [MemberData(nameof(FileTools))]
    public void Hard_link_to_a_file_outside_is_refused(string tool)
    {
        using var h = new ToolHarness();
        string secret = h.WriteOutsideFile("secret.txt", Secret);
        Assert.Equal(0, Posix.Link(secret, h.InWorkspace("hard.txt"))); // same file system: both are under the temp directory

        var result = h.Call(tool, ArgumentsFor(tool, "hard.txt"));

        Assert.False(result.Ok);
        Assert.Contains("'hard.txt' has 2 hard links", result.Output, StringComparison.Ordinal);
        Assert.Equal(Secret, File.ReadAllText(secret));
    }

    [Theory]
    [InlineData("/proc/self/environ")]
    [InlineData("/proc/self/root/etc/passwd")]
    [InlineData("/sys/kernel/hostname")]
    [InlineData("/dev/zero")]
    public void Proc_sys_and_dev_are_refused(string path)
    {
        using var h = new ToolHarness();

        var result = h.Call("read_file", new { path });

        Assert.False(result.Ok);
        Assert.Contains("/proc, /sys and /dev are never accessible", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/proc/self/root")]
    [InlineData("/proc/self/environ")]
    [InlineData("/dev/zero")]
    public void Symlinks_into_proc_and_dev_are_refused(string target)
    {
        using var h = new ToolHarness();
        File.CreateSymbolicLink(h.InWorkspace("special"), target);

        var read = h.Call("read_file", new { path = "special" });
        var grep = h.Call("grep", new { pattern = ".", path = "special" });

        Assert.False(read.Ok);
        Assert.Contains("leads outside the workspace", read.Output, StringComparison.Ordinal);
        Assert.False(grep.Ok);
    }

    [Fact]
    public void Fifo_in_the_workspace_is_refused_without_blocking()
    {
        using var h = new ToolHarness();
        Assert.Equal(0, Posix.MakeFifo(h.InWorkspace("pipe"), 0x1b6));

        var read = h.Call("read_file", new { path = "pipe" });
        var write = h.Call("write_file", new { path = "pipe", content = "x" });
        var grep = h.Call("grep", new { pattern = "x" });

        Assert.Contains("'pipe' is a FIFO (named pipe); only regular files and directories can be used", read.Output, StringComparison.Ordinal);
        Assert.False(write.Ok);
        Assert.True(grep.Ok, grep.Output);
    }

    [Fact]
    public void Socket_in_the_workspace_is_refused()
    {
        using var h = new ToolHarness();
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(h.InWorkspace("sock")));

        var result = h.Call("read_file", new { path = "sock" });

        Assert.Contains("'sock' is a socket", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Devices_are_refused_by_kind()
    {
        // Creating a device node needs privileges a test may not have; check the kind rule on the real /dev/null.
        Assert.True(Posix.TryStat("/dev/null", followLinks: true, out var status, out _));

        var refusal = Assert.Throws<ToolSandboxException>(() => Workspace.CheckUsable(status, "'null'"));

        Assert.Equal("'null' is a character device; only regular files and directories can be used", refusal.Message);
    }

    [Theory]
    [InlineData("a\0b", "contains a NUL character")]
    [InlineData("", "the path is empty")]
    public void Malformed_paths_are_refused(string path, string expected)
    {
        using var h = new ToolHarness();

        var result = h.Call("read_file", new { path });

        Assert.False(result.Ok);
        Assert.Contains(expected, result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Huge_path_is_refused_and_shortened_in_the_message()
    {
        using var h = new ToolHarness();
        string path = new('a', 100_000);

        var result = h.Call("read_file", new { path });

        Assert.False(result.Ok);
        Assert.Contains("is longer than 4096 characters", result.Output, StringComparison.Ordinal);
        Assert.True(result.Output.Length < 1000);
    }

    [Fact]
    public void Weird_unicode_names_work_inside_the_workspace()
    {
        using var h = new ToolHarness();
        const string name = "d\u0301ir \u202Eevil\u200B/\U0001F600 f\u00FCr.txt";

        var write = h.Call("write_file", new { path = name, content = "ok" });
        var read = h.Call("read_file", new { path = name });

        Assert.True(write.Ok, write.Output);
        Assert.Equal("ok", read.Output);
        Assert.True(File.Exists(h.InWorkspace(name)));
    }

    [Fact]
    public void Workspace_root_may_not_be_the_file_system_root_or_under_proc()
    {
        Assert.Throws<ArgumentException>(() => new Workspace("/"));
        Assert.Throws<ArgumentException>(() => new Workspace("/proc/self"));
        Assert.Throws<ArgumentException>(() => new Workspace("/nonexistent-tern-workspace"));
    }

    [Fact]
    public void Workspace_root_given_through_a_symlink_is_resolved()
    {
        using var h = new ToolHarness();
        string alias = h.InOutside("alias");
        Directory.CreateSymbolicLink(alias, h.Workspace);

        var workspace = new Workspace(alias);

        Assert.Equal(h.Workspace, workspace.Root);
        Assert.Equal("x/y.txt", workspace.Resolve(alias + "/x/y.txt").RelativePath);
    }
}
