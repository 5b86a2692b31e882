using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// Hostile tool calls through POST /tools/call: nothing escapes the workspace, nothing outside it changes, and the
/// server stays up. Each case is a tool call whose output must not show the forbidden thing.
/// </summary>
public sealed class AttackCorpusTests(ToolServerFixture fixture) : IClassFixture<ToolServerFixture>
{
    public static TheoryData<string, string, string> FileAttacks() => new()
    {
        { "path traversal", """{"name": "read_file", "arguments": {"path": "../../../../../etc/passwd"}}""", "root:" },
        { "absolute path", """{"name": "read_file", "arguments": {"path": "/etc/passwd"}}""", "root:" },
        { "/proc/self/root", """{"name": "read_file", "arguments": {"path": "/proc/self/root/etc/passwd"}}""", "root:" },
        { "/proc environ", """{"name": "read_file", "arguments": {"path": "/proc/self/environ"}}""", "PATH=" },
        { "write outside", """{"name": "write_file", "arguments": {"path": "../tern-escape.txt", "content": "x"}}""", "wrote" },
        { "grep outside", """{"name": "grep", "arguments": {"pattern": "root", "path": "/etc"}}""", "root:" },
        { "edit outside", """{"name": "edit_file", "arguments": {"path": "/etc/hostname", "old_text": "a", "new_text": "b"}}""", "---" },
        { "NUL in path", """{"name": "read_file", "arguments": {"path": "a\u0000/etc/passwd"}}""", "root:" },
    };

    [Theory]
    [MemberData(nameof(FileAttacks))]
    public async Task File_attacks_are_refused(string name, string call, string forbidden)
    {
        var (status, body, _) = await fixture.PostAsync("/tools/call", call);
        Assert.True(status == 200, $"{name}: {body}");
        Assert.False(body.GetProperty("ok").GetBoolean(), $"{name}: {body}");
        Assert.DoesNotContain(forbidden, body.GetProperty("output").GetString());
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(fixture.Workspace.FullPath)!, "tern-escape.txt")));
        await AssertServerUpAsync();
    }

    [Fact]
    public async Task Symlink_and_hard_link_escapes_are_refused()
    {
        using var outside = new TempDirectory();
        string secret = outside.Write("secret.txt", "outside secret"u8.ToArray());
        File.CreateSymbolicLink(fixture.Workspace.File("link.txt"), secret);
        Directory.CreateSymbolicLink(fixture.Workspace.File("linkdir"), outside.FullPath);
        bool hardLink = Link(secret, fixture.Workspace.File("hard.txt"));

        foreach (string path in (string[])["link.txt", "linkdir/secret.txt", .. hardLink ? ["hard.txt"] : Array.Empty<string>()])
        {
            var (_, body, _) = await fixture.PostAsync("/tools/call", JsonSerializer.Serialize(new { name = "read_file", arguments = new { path } }));
            Assert.False(body.GetProperty("ok").GetBoolean(), path);
            Assert.DoesNotContain("outside secret", body.GetProperty("output").GetString());
            var (_, write, _) = await fixture.PostAsync("/tools/call", JsonSerializer.Serialize(new { name = "write_file", arguments = new { path, content = "overwritten" } }));
            Assert.False(write.GetProperty("ok").GetBoolean(), path);
        }

        Assert.Equal("outside secret", File.ReadAllText(secret));
        Assert.True(hardLink, "could not create a hard link to test with");
    }

    [Fact]
    public async Task The_shell_cannot_write_outside_the_workspace()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"tern-shell-escape-{Guid.NewGuid():N}");
        string home = Path.Combine(Path.GetDirectoryName(fixture.Workspace.FullPath)!, $"tern-parent-{Guid.NewGuid():N}");
        var output = await ShellAsync($"echo x > {marker}; echo y > {home}; echo z > /usr/tern-escape; touch /etc/tern-escape; echo done");
        Assert.Contains("done", output);
        Assert.False(File.Exists(marker));
        Assert.False(File.Exists(home));
        Assert.False(File.Exists("/usr/tern-escape"));
        Assert.False(File.Exists("/etc/tern-escape"));
    }

    [Fact]
    public async Task The_shell_cannot_reach_a_loopback_listener()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var output = await ShellAsync($"bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}' && echo connected || echo refused");
        Assert.DoesNotContain("connected", output);
        Assert.False(listener.Pending());
    }

    [Fact]
    public async Task A_bounded_process_flood_an_endless_loop_and_a_huge_output_are_contained()
    {
        // Thousands of background processes, written bounded (3000) so that a broken limit cannot take the machine down.
        var flood = await ShellAsync("for i in $(seq 1 3000); do sleep 30 & done 2>/dev/null; echo spawned", timeout: 5);
        Assert.NotNull(flood);
        var loop = await CallAsync("""{"name": "shell", "arguments": {"command": "while :; do :; done", "timeout": 2}}""");
        Assert.False(loop.GetProperty("ok").GetBoolean());
        Assert.Contains("timed out", loop.GetProperty("output").GetString(), StringComparison.OrdinalIgnoreCase);
        var huge = await ShellAsync("yes tern | head -c 50000000");
        Assert.True(huge.Length < 20_000, $"output of {huge.Length} chars");
        await AssertServerUpAsync();
        // No sandboxed sleep survives its command.
        // (exactly "sleep 30": other programs on the machine may well be sleeping for other times)
        Assert.DoesNotContain("sleep 30 ", Directory.GetDirectories("/proc").Select(d => Read(Path.Combine(d, "cmdline"))));
    }

    private async Task<string> ShellAsync(string command, int timeout = 10) =>
        (await CallAsync(JsonSerializer.Serialize(new { name = "shell", arguments = new { command, timeout } }))).GetProperty("output").GetString()!;

    private async Task<JsonElement> CallAsync(string call)
    {
        var (status, body, _) = await fixture.PostAsync("/tools/call", call);
        Assert.Equal(200, status);
        return body;
    }

    private async Task AssertServerUpAsync() => Assert.Equal(200, (await fixture.GetAsync("/health")).Status);

    private static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path).Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static bool Link(string existing, string link)
    {
        try
        {
            return link_(existing, link) == 0;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int link_(string existing, string newPath);
}
