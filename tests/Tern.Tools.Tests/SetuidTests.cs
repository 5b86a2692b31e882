using System.Runtime.InteropServices;
using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>
/// Setuid and setgid programs planted through the tools. Sandbox root is host root when the server runs as root, so a
/// setuid file the shell leaves in the workspace would give any local user a root shell on the host.
/// </summary>
public sealed class SetuidTests
{
    private const string Source = "src/suid-tool";

    // System call numbers and O_TMPFILE | O_WRONLY differ between x86_64 and arm64.
    private static readonly bool Arm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    private static readonly string Openat = Arm64 ? "56" : "257";
    private static readonly string Mknodat = Arm64 ? "33" : "259";
    private static readonly string Linkat = Arm64 ? "37" : "265";
    private static readonly string TmpFileForWriting = Arm64 ? "0x404001" : "0x410001";

    /// <summary>Each command tries one way to leave a setuid or setgid file in the workspace.</summary>
    public static TheoryData<string> Plants => new()
    {
        "cp /usr/bin/id ./x; chmod 4755 ./x",
        "cp /usr/bin/id ./x; chmod u+s ./x",
        "cp /usr/bin/id ./x; chmod g+s ./x",
        "cp /usr/bin/id ./x; chmod 6755 ./x",
        "mkdir d; chmod g+s d",
        "install -m 4755 /usr/bin/id ./x",
        "install -m 2755 /usr/bin/id ./x",
        $"cp -a {Source} ./x",
        $"cp -p {Source} ./x",
        "tar -C src -cf - suid-tool | tar -xpf -",
        "cp /usr/bin/id ./x; perl -e 'chmod 04755, \"x\" or die \"refused: $!\\n\"'",
        "perl -e 'use Fcntl; sysopen(F, \"x\", O_CREAT | O_WRONLY, 04755) or die \"refused: $!\\n\"'",
        "perl -e 'use Fcntl; sysopen(F, \"x\", O_CREAT | O_WRONLY, 02755) or die \"refused: $!\\n\"'",
        // openat2: the mode is in a struct (flags, mode, resolve) that a seccomp filter cannot read
        "perl -e 'my ($n, $how) = (\"x\", pack(\"QQQ\", 0101, 04755, 0)); syscall(437, -100, $n, $how, 24) >= 0 or die \"refused: $!\\n\"'",
        // mknod makes regular files too, without any capability
        $"perl -e 'my $n = \"x\"; syscall({Mknodat}, -100, $n, 0100000 | 04755, 0) == 0 or die \"refused: $!\\n\"'",
        // an unnamed O_TMPFILE file (O_TMPFILE | O_WRONLY) given a name afterwards
        $"perl -e 'my ($d, $p, $n) = (\".\", \"\", \"x\"); my $fd = syscall({Openat}, -100, $d, {TmpFileForWriting}, 04755); $fd >= 0 or die \"refused: $!\\n\"; " +
            $"$p = \"/proc/self/fd/$fd\"; syscall({Linkat}, -100, $p, -100, $n, 0x400) == 0 or die \"link: $!\\n\"'",
    };

    [Theory]
    [MemberData(nameof(Plants))]
    public async Task The_shell_cannot_leave_a_setuid_or_setgid_file_in_the_workspace(string command)
    {
        using var h = Sandboxed();
        string source = h.WriteWorkspaceFile(Source, "#!/bin/sh\nid\n");
        File.SetUnixFileMode(source, (UnixFileMode)Convert.ToInt32("6755", 8));

        var result = await h.CallAsync("shell", new { command = command + "; echo done" });

        Assert.True(result.Ok, result.Output);
        Assert.Contains("done", result.Output, StringComparison.Ordinal);
        Assert.Equal([Source], SetuidOrSetgidEntries(h.Workspace));
        Assert.EndsWith("; setuid/setgid bits refused (seccomp)", ((ShellTool)h.Tools.Find("shell")!).DescribeSandbox(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_shell_has_no_io_uring()
    {
        using var h = Sandboxed();

        // io_uring's operations (IORING_OP_OPENAT with a mode) bypass seccomp filters: the ring cannot be set up.
        var result = await h.CallAsync("shell", new { command = "perl -e 'my $p = \"\\0\" x 120; print syscall(425, 1, $p) < 0 ? \"refused: $!\\n\" : \"ring\\n\"'" });

        Assert.Equal("refused: Function not implemented\n[exit code 0]", result.Output);
    }

    [Fact]
    public async Task Ordinary_modes_still_work_in_the_sandbox()
    {
        using var h = Sandboxed();

        var result = await h.CallAsync("shell", new
        {
            command = "umask 022; cp /usr/bin/id ./a; chmod 644 ./a; cp ./a ./b; chmod 755 ./b; cp ./a ./c; chmod +x ./c; " +
                      "mkdir d e; chmod 1777 d; mkfifo p; perl -e 'use Fcntl; sysopen(F, \"f\", O_CREAT | O_WRONLY, 0700) or die \"$!\\n\"'; " +
                      "./b -u >/dev/null && echo ran; stat -c '%a %n' a b c d e f p",
        });

        Assert.Equal("ran\n644 a\n755 b\n755 c\n1777 d\n755 e\n700 f\n644 p\n[exit code 0]", result.Output);
    }

    // As root the old code lost 04000 and 02000-with-group-execute by accident (fchown clears them); 02644 it kept.
    public static TheoryData<string> SpecialModes => ["4755", "2755", "2644", "6755", "1755", "7777"];

    [Theory]
    [MemberData(nameof(SpecialModes))]
    public void Write_file_over_a_file_with_special_bits_keeps_only_its_permission_bits(string mode)
    {
        using var h = new ToolHarness();
        string path = h.WriteWorkspaceFile("tool", "old");
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(mode, 8));

        var result = h.Call("write_file", new { path = "tool", content = "#!/bin/sh\nid\n" });

        Assert.True(result.Ok, result.Output);
        Assert.Equal(Convert.ToInt32(mode, 8) & 0x1ff, (int)File.GetUnixFileMode(path));
    }

    [Fact]
    public void Edit_file_on_a_setuid_file_drops_the_setuid_bit()
    {
        using var h = new ToolHarness();
        string path = h.WriteWorkspaceFile("tool", "#!/bin/sh\necho old\n");
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32("6744", 8));

        var result = h.Call("edit_file", new { path = "tool", old_text = "old", new_text = "new" });

        Assert.True(result.Ok, result.Output);
        Assert.Equal(Convert.ToInt32("744", 8), (int)File.GetUnixFileMode(path));
    }

    private static ToolHarness Sandboxed()
    {
        var h = new ToolHarness();
        if (((ShellTool)h.Tools.Find("shell")!).UnavailableReason is { } reason)
        {
            h.Dispose();
            Assert.Fail($"the shell sandbox tests need bubblewrap: install it with `apt-get install -y bubblewrap` (.ci/run does). The tool says: {reason}");
        }

        return h;
    }

    /// <summary>Every entry under <paramref name="root"/> (links not followed) with a setuid or setgid bit, relative, sorted.</summary>
    private static string[] SetuidOrSetgidEntries(string root)
    {
        var found = new List<string>();
        var pending = new Stack<string>([root]);
        while (pending.TryPop(out string? directory))
        {
            foreach (string entry in Directory.EnumerateFileSystemEntries(directory))
            {
                Assert.True(Posix.TryStat(entry, followLinks: false, out var status, out int errno), $"lstat {entry}: errno {errno}");
                if ((status.Mode & 0xC00) != 0)
                {
                    found.Add(Path.GetRelativePath(root, entry));
                }

                if (status.IsDirectory)
                {
                    pending.Push(entry);
                }
            }
        }

        return found.Order(StringComparer.Ordinal).ToArray();
    }
}
