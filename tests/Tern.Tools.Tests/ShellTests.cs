using System.Net;
using System.Net.Sockets;
using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>
/// The shell tool under bubblewrap. These tests need <c>bwrap</c>: without it they fail (they are not skipped) with a
/// message saying to install it; <c>.ci/run</c> installs it.
/// </summary>
public sealed class ShellTests
{
    private static ToolHarness Sandboxed()
    {
        var h = new ToolHarness();
        if (Shell(h).UnavailableReason is { } reason)
        {
            h.Dispose();
            Assert.Fail($"the shell sandbox tests need bubblewrap: install it with `apt-get install -y bubblewrap` (.ci/run does). The tool says: {reason}");
        }

        return h;
    }

    private static ShellTool Shell(ToolHarness h) => (ShellTool)h.Tools.Find("shell")!;

    /// <summary>A sleep duration no other test uses, to find the processes afterwards.</summary>
    private static string UniqueSleep() => (300_000 + Random.Shared.Next(600_000)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Runs_a_command_and_reports_its_output_and_exit_code()
    {
        using var h = Sandboxed();

        var hi = await h.CallAsync("shell", new { command = "echo hi" });
        var failing = await h.CallAsync("shell", new { command = "echo oops >&2; exit 3" });

        Assert.True(hi.Ok, hi.Output);
        Assert.Equal("hi\n[exit code 0]", hi.Output);
        Assert.True(failing.Ok);
        Assert.Equal("oops\n[exit code 3]", failing.Output);
    }

    [Fact]
    public async Task Workspace_is_the_working_directory_and_writable()
    {
        using var h = Sandboxed();
        h.WriteWorkspaceFile("in.txt", "from host\n");

        var result = await h.CallAsync("shell", new { command = "pwd; cat in.txt; echo from sandbox > made.txt; mkdir -p d && echo x > d/y" });

        Assert.Equal($"{h.Workspace}\nfrom host\n[exit code 0]", result.Output);
        Assert.Equal("from sandbox\n", File.ReadAllText(h.InWorkspace("made.txt")));
        Assert.Equal("x\n", File.ReadAllText(h.InWorkspace("d/y")));
    }

    [Fact]
    public async Task System_directories_are_read_only()
    {
        using var h = Sandboxed();
        string probe = "/usr/tern-sandbox-probe-" + Guid.NewGuid().ToString("N");

        var result = await h.CallAsync("shell", new { command = $"touch {probe}; echo rc=$?" });

        Assert.Contains("Read-only file system", result.Output, StringComparison.Ordinal);
        Assert.Contains("rc=1", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(probe));
    }

    [Fact]
    public async Task Host_files_outside_the_workspace_are_invisible_and_unchanged()
    {
        using var h = Sandboxed();
        string secret = h.WriteOutsideFile("secret.txt", "outside secret\n");
        string homeProbe = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), "tern-probe-" + Guid.NewGuid().ToString("N"));

        var result = await h.CallAsync("shell", new
        {
            command = $"cat {secret}; mkdir -p {h.Outside} && echo overwritten > {secret}; cat /etc/shadow; touch {homeProbe}; touch /new-top-level; echo done",
        });

        Assert.DoesNotContain("outside secret", result.Output, StringComparison.Ordinal);
        Assert.Contains("/etc/shadow: No such file or directory", result.Output, StringComparison.Ordinal);
        Assert.Contains("touch: cannot touch '/new-top-level': Read-only file system", result.Output, StringComparison.Ordinal);
        Assert.Contains("done", result.Output, StringComparison.Ordinal);
        Assert.Equal("outside secret\n", File.ReadAllText(secret)); // the sandbox wrote into its private /tmp
        Assert.False(File.Exists(homeProbe));
    }

    [Fact]
    public async Task Tmp_is_private()
    {
        using var h = Sandboxed();
        string marker = Path.Combine(Path.GetTempPath(), "tern-host-marker-" + Guid.NewGuid().ToString("N"));
        string inside = "/tmp/tern-sandbox-marker-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(marker, "x");
        try
        {
            var result = await h.CallAsync("shell", new { command = $"test -e {marker} && echo host-visible; echo y > {inside} && echo written" });

            Assert.Equal("written\n[exit code 0]", result.Output);
            Assert.False(File.Exists(inside));
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task There_is_no_network()
    {
        using var h = Sandboxed();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var interfaces = await h.CallAsync("shell", new { command = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '" });
        var connect = await h.CallAsync("shell", new { command = $"bash -c 'echo hello > /dev/tcp/127.0.0.1/{port}'; echo rc=$?" });

        Assert.Equal("lo\n[exit code 0]", interfaces.Output);
        Assert.Contains("Connection refused", connect.Output, StringComparison.Ordinal);
        Assert.Contains("rc=1", connect.Output, StringComparison.Ordinal);
        Assert.False(listener.Pending());
    }

    [Fact]
    public async Task Environment_is_cleared()
    {
        using var h = Sandboxed();
        Environment.SetEnvironmentVariable("TERN_TOOLS_TEST_SECRET", "hunter2-secret");

        var result = await h.CallAsync("shell", new { command = "env | sort" });

        Assert.DoesNotContain("hunter2-secret", result.Output, StringComparison.Ordinal);
        Assert.Contains($"HOME={h.Workspace}\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("LANG=C.UTF-8\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("PATH=/usr/local/bin:/usr/bin:/bin", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_run_in_their_own_pid_namespace()
    {
        using var h = Sandboxed();

        var result = await h.CallAsync("shell", new { command = "ls /proc | grep -c '^[0-9]'" });

        // bwrap's init, sh, ls and grep: a handful, not the host's processes
        Assert.True(int.Parse(result.Output.Split('\n')[0], System.Globalization.CultureInfo.InvariantCulture) < 10, result.Output);
    }

    [Fact]
    public async Task Timeout_kills_the_command_and_everything_it_started()
    {
        using var h = Sandboxed();
        string background = UniqueSleep();
        string foreground = UniqueSleep();

        var result = await h.CallAsync("shell", new { command = $"echo started; sleep {background} & sleep {foreground}", timeout = 1 });

        Assert.False(result.Ok);
        Assert.Equal("timed out after 1 s", result.Error);
        Assert.Equal("started\n[timed out after 1 s: the command and every process it started were killed]", result.Output);
        Processes.AssertGone("sleep", background);
        Processes.AssertGone("sleep", foreground);
    }

    [Fact]
    public async Task Background_processes_do_not_outlive_the_command()
    {
        using var h = Sandboxed();
        string seconds = UniqueSleep();

        var result = await h.CallAsync("shell", new { command = $"sleep {seconds} & echo left" });

        Assert.Equal("left\n[exit code 0]", result.Output);
        Processes.AssertGone("sleep", seconds);
    }

    [Fact]
    public async Task Output_is_capped_keeping_its_beginning_and_end()
    {
        using var h = Sandboxed();

        var result = await h.CallAsync("shell", new { command = "echo FIRST; yes 0123456789 | head -c 100000; echo LAST" });

        Assert.True(result.Ok);
        Assert.StartsWith("FIRST\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("bytes of output omitted ...]", result.Output, StringComparison.Ordinal);
        Assert.EndsWith("LAST\n[exit code 0; the output was 100011 bytes, only its first and last 8192 bytes are shown]", result.Output, StringComparison.Ordinal);
        Assert.True(result.Bytes < 17_000, $"{result.Bytes} bytes");
    }

    [Fact]
    public async Task Process_flood_is_bounded_by_the_process_limit_and_the_timeout()
    {
        using var h = Sandboxed();
        string seconds = UniqueSleep();

        // Bounded on purpose (1000 processes at most), so that a broken limit cannot take the machine down.
        var result = await h.CallAsync("shell", new { command = $"for i in $(seq 1 1000); do sleep {seconds} & done; wait", timeout = 3 });

        if (Shell(h).ProcessLimit != ProcessLimitMode.None)
        {
            Assert.Contains("Cannot fork", result.Output, StringComparison.Ordinal);
        }
        else
        {
            // root without a usable pids cgroup: the timeout ends it
            Assert.Contains("timed out", result.Output, StringComparison.Ordinal);
        }

        Processes.AssertGone("sleep", seconds);
    }

    [Fact]
    public void Process_limit_is_enforced_when_the_machine_allows_it()
    {
        using var h = Sandboxed();
        bool cgroupUsable = false;
        if (Posix.IsRoot)
        {
            using var probe = CommandCgroup.TryCreate(10, null);
            cgroupUsable = probe?.LimitsProcesses == true;
        }

        // RLIMIT_NPROC binds every user but root; root needs a pids cgroup it can create.
        var expected = !Posix.IsRoot ? ProcessLimitMode.Rlimit : cgroupUsable ? ProcessLimitMode.Cgroup : ProcessLimitMode.None;

        Assert.Equal(expected, Shell(h).ProcessLimit);
        // Without a memory cgroup the 2 GiB are divided as 8 processes of 256 MiB (see ShellLimitTests).
        string count = Shell(h).MemoryLimit == MemoryLimitMode.Divided ? "at most 8 processes" : "at most 128 processes";
        Assert.Contains(expected == ProcessLimitMode.None ? "no process-count limit" : count, Shell(h).DescribeSandbox(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_the_request_kills_the_command()
    {
        using var h = Sandboxed();
        string seconds = UniqueSleep();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => h.Tools.InvokeAsync("shell", $$"""{"command": "sleep {{seconds}}"}""", "r", cancel.Token));

        Processes.AssertGone("sleep", seconds);
    }

    [Fact]
    public async Task A_command_outlives_the_thread_that_started_it()
    {
        using var h = Sandboxed();
        Task<ToolResult>? call = null;

        // bwrap --die-with-parent ties it to the thread that forked it; a thread-pool thread may retire mid-command.
        var thread = new Thread(() => call = h.Tools.InvokeAsync("shell", """{"command": "sleep 0.5; echo survived"}""", "r"));
        thread.Start();
        thread.Join();

        Assert.Equal("survived\n[exit code 0]", (await call!).Output);
    }

    [Fact]
    public void Missing_bubblewrap_is_refused_with_install_instructions()
    {
        using var h = new ToolHarness(shell: new ShellOptions { BubblewrapPath = "/nonexistent/bwrap" });

        var result = h.Call("shell", new { command = "echo hi" });

        Assert.False(result.Ok);
        Assert.Contains("bubblewrap (bwrap) is not installed", result.Output, StringComparison.Ordinal);
        Assert.Contains("apt-get install bubblewrap", result.Output, StringComparison.Ordinal);
        Assert.Contains("--unsafe-shell", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_arguments_are_refused_before_anything_runs()
    {
        using var h = new ToolHarness(shell: new ShellOptions { BubblewrapPath = "/nonexistent/bwrap" });

        Assert.Equal("error: argument 'timeout' must be at most 60", h.Call("shell", new { command = "true", timeout = 61 }).Output);
        Assert.Equal("error: argument 'timeout' must be at least 1", h.Call("shell", new { command = "true", timeout = 0 }).Output);
        Assert.Equal("error: the command contains a NUL character", h.Call("shell", new { command = "echo a\0b" }).Output);
        Assert.Equal("error: missing required argument 'command'", h.Call("shell", new { }).Output);
    }

    [Fact]
    public async Task Unsafe_shell_still_clears_the_environment_times_out_and_cleans_up()
    {
        using var h = new ToolHarness(shell: new ShellOptions { Unsafe = true });
        Environment.SetEnvironmentVariable("TERN_TOOLS_TEST_SECRET", "hunter2-secret");
        string seconds = UniqueSleep();

        var env = await h.CallAsync("shell", new { command = "pwd; env" });
        var slow = await h.CallAsync("shell", new { command = $"sleep {seconds} & sleep {seconds}", timeout = 1 });

        Assert.StartsWith(h.Workspace + "\n", env.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", env.Output, StringComparison.Ordinal);
        Assert.False(slow.Ok);
        Assert.Contains("timed out after 1 s", slow.Output, StringComparison.Ordinal);
        Processes.AssertGone("sleep", seconds);
        Assert.StartsWith("UNSAFE shell", Shell(h).DescribeSandbox(), StringComparison.Ordinal);
    }

    /// <summary>
    /// As root, sandbox root is host uid 0, and the kernel checks only the uid on /proc/sys: a writable core_pattern
    /// lets a command make the host run its script as root on the next crash. The value is written back unchanged,
    /// so on a sandbox that allowed it nothing on the host would change.
    /// </summary>
    [Fact]
    public async Task The_shell_cannot_change_the_hosts_kernel_settings()
    {
        using var h = Sandboxed();
        string before = File.ReadAllText("/proc/sys/kernel/core_pattern");

        var result = await h.CallAsync("shell", new
        {
            command = "cat /proc/sys/kernel/core_pattern > /tmp/p; (cat /tmp/p > /proc/sys/kernel/core_pattern) || echo core_pattern refused; " +
                      "cat /proc/sys/kernel/printk_ratelimit > /tmp/r; (cat /tmp/r > /proc/sys/kernel/printk_ratelimit) || echo printk refused; " +
                      "for p in /proc/sys /proc/sysrq-trigger; do grep -q \" $p ro,\" /proc/self/mountinfo && echo $p read-only; done",
        });

        Assert.True(result.Ok, result.Output);
        Assert.Contains("core_pattern refused", result.Output, StringComparison.Ordinal);
        Assert.Contains("printk refused", result.Output, StringComparison.Ordinal);
        Assert.Contains("Read-only file system", result.Output, StringComparison.Ordinal);
        Assert.Contains("/proc/sys read-only", result.Output, StringComparison.Ordinal);
        if (File.Exists("/proc/sysrq-trigger"))
        {
            Assert.Contains("/proc/sysrq-trigger read-only", result.Output, StringComparison.Ordinal);
        }

        Assert.Equal(before, File.ReadAllText("/proc/sys/kernel/core_pattern"));
    }
}
