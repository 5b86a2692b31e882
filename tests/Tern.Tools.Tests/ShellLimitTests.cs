using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>
/// Limits of one shell call as a whole: the memory of its whole process tree, and the workspace quota (each file
/// capped at what is left, the call stopped when the workspace goes over). Allocations are kept to a few hundred MB.
/// </summary>
public sealed class ShellLimitTests
{
    private const long MiB = 1 << 20;

    /// <summary>One pipeline whose tail holds 600 MiB (a "line" without a newline) and prints its size if it got there.</summary>
    private const string Allocate600M = "head -c 600M /dev/zero | tail -n 1 | wc -c";

    private const string Allocated600M = "629145600";

    private static ToolHarness Sandboxed(ShellOptions? shell = null, long? quota = null)
    {
        var h = new ToolHarness(shell: shell, quota: quota);
        if (((ShellTool)h.Tools.Find("shell")!).UnavailableReason is { } reason)
        {
            h.Dispose();
            Assert.Fail($"the shell sandbox tests need bubblewrap: install it with `apt-get install -y bubblewrap` (.ci/run does). The tool says: {reason}");
        }

        return h;
    }

    private static ShellTool Shell(ToolHarness h) => (ShellTool)h.Tools.Find("shell")!;

    [Fact]
    public async Task Three_processes_of_one_call_share_one_memory_limit()
    {
        using var h = Sandboxed(new ShellOptions { MemoryLimitBytes = 256 * MiB });

        // Each of the three alone is under the per-process limits of old (2 GiB of address space each).
        var result = await h.CallAsync("shell", new { command = $"for i in 1 2 3; do ({Allocate600M}) & done; wait", timeout = 60 });

        Assert.DoesNotContain(Allocated600M, result.Output, StringComparison.Ordinal);
        if (Shell(h).MemoryLimit == MemoryLimitMode.Cgroup)
        {
            Assert.Contains("the command reached its memory limit of 256 MiB: the kernel killed", result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Memory_limit_is_a_cgroup_when_the_machine_allows_it()
    {
        using var h = Sandboxed();
        bool cgroupUsable = false;
        if (Posix.IsRoot)
        {
            using var probe = CommandCgroup.TryCreate(null, 256 * MiB);
            cgroupUsable = probe?.LimitsMemory == true;
        }

        // This machine and CI run as root with a memory controller, so there the limit must be the cgroup.
        Assert.Equal(cgroupUsable ? MemoryLimitMode.Cgroup : Shell(h).ProcessLimit == ProcessLimitMode.None ? MemoryLimitMode.PerProcess : MemoryLimitMode.Divided,
            Shell(h).MemoryLimit);
        if (cgroupUsable)
        {
            Assert.Contains("at most 2 GiB of memory per command, all its processes together (memory cgroup)", Shell(h).DescribeSandbox(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Without_a_memory_cgroup_the_address_space_is_divided_across_the_process_limit()
    {
        using var h = Sandboxed(new ShellOptions { UseMemoryCgroup = false, MemoryLimitBytes = 1L << 30, MinProcessMemoryBytes = 128 * MiB });
        var shell = Shell(h);

        var result = await h.CallAsync("shell", new { command = $"grep 'Max address space' /proc/self/limits; {Allocate600M}", timeout = 60 });

        Assert.DoesNotContain(Allocated600M, result.Output, StringComparison.Ordinal);
        if (shell.ProcessLimit == ProcessLimitMode.None)
        {
            // Nothing bounds the number of processes (root without a pids cgroup): only the per-process limit holds, and says so.
            Assert.Equal(MemoryLimitMode.PerProcess, shell.MemoryLimit);
            Assert.Contains("1 GiB of address space per process (RLIMIT_AS), their total unbounded", shell.DescribeSandbox(), StringComparison.Ordinal);
            return;
        }

        // 1 GiB over 128 processes would be 8 MiB each: instead 8 processes of 128 MiB, still 1 GiB in all.
        Assert.Equal(MemoryLimitMode.Divided, shell.MemoryLimit);
        Assert.Contains("at most 8 processes", shell.DescribeSandbox(), StringComparison.Ordinal);
        Assert.Contains("128 MiB of address space per process (RLIMIT_AS), 1 GiB over all of them", shell.DescribeSandbox(), StringComparison.Ordinal);
        Assert.Matches(@"Max address space\s+134217728\s+134217728", result.Output);
    }

    [Fact]
    public void Limits_that_are_not_positive_are_refused()
    {
        foreach (var options in (ShellOptions[])[new() { ProcessLimit = 0 }, new() { MemoryLimitBytes = 0 }, new() { MinProcessMemoryBytes = -1 },
                     new() { FileSizeLimitBytes = -1 }, new() { QuotaCheckInterval = TimeSpan.Zero }])
        {
            var e = Assert.Throws<ArgumentException>(() => new ShellTool(options));
            Assert.StartsWith("the shell's process limit, memory limits and quota check interval must be positive", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_call_writing_many_files_is_stopped_at_the_workspace_quota()
    {
        using var h = Sandboxed(quota: 32 * MiB);

        // 48 files of 4 MiB (192 MiB), each one under the per-file limit; a pause between them gives the watcher a
        // chance on a loaded machine, and the bound below allows 16 more files (1.6 s) of lag.
        var result = await h.CallAsync("shell", new
        {
            command = "for i in $(seq 1 48); do head -c 4M /dev/zero > f$i; sleep 0.1; done; echo finished",
            timeout = 60,
        });

        Assert.False(result.Ok);
        Assert.DoesNotContain("finished", result.Output, StringComparison.Ordinal);
        Assert.Contains("the workspace went over its quota (", result.Output, StringComparison.Ordinal);
        Assert.Contains(" of 32 MiB in use, ", result.Output, StringComparison.Ordinal);
        Assert.Contains(" over): the command and every process it started were killed; delete files to make room]", result.Output, StringComparison.Ordinal);
        long written = h.WorkspaceBytes();
        Assert.InRange(written, 24 * MiB, 96 * MiB);
    }

    [Fact]
    public async Task Each_file_is_capped_at_what_is_left_of_the_quota()
    {
        using var h = Sandboxed(quota: 32 * MiB);
        h.WriteWorkspaceFile("already.txt", new string('x', 8 << 20));

        var result = await h.CallAsync("shell", new { command = "head -c 64M /dev/zero > big; echo status $?", timeout = 60 });

        Assert.True(result.Ok, result.Output);
        Assert.Contains("File too large", result.Output, StringComparison.Ordinal);
        Assert.Contains("status 1", result.Output, StringComparison.Ordinal);
        Assert.InRange(new FileInfo(h.InWorkspace("big")).Length, 1, 24 * MiB);
    }

    [Fact]
    public async Task A_workspace_over_its_quota_can_delete_but_not_write()
    {
        using var h = Sandboxed(quota: 1 * MiB);
        h.WriteWorkspaceFile("big.bin", new string('x', 2 << 20));

        var full = await h.CallAsync("shell", new { command = "echo hi > blocked.txt; echo wrote $?; rm big.bin; echo removed $?" });
        var after = await h.CallAsync("shell", new { command = "echo hi > new.txt; cat new.txt" });

        Assert.True(full.Ok, full.Output);
        Assert.Contains("wrote 1\nremoved 0\n", full.Output, StringComparison.Ordinal);
        Assert.Equal(0, new FileInfo(h.InWorkspace("blocked.txt")).Length);
        Assert.Contains("[the workspace is over its quota (2", full.Output, StringComparison.Ordinal);
        Assert.Contains(" of 1 MiB in use, 1 MiB over), so this command could not write files; delete files to make room]", full.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(h.InWorkspace("big.bin")));
        Assert.Equal("hi\n[exit code 0]", after.Output);
    }

    [Fact]
    public async Task A_workspace_too_large_to_measure_counts_as_over_its_quota()
    {
        using var h = Sandboxed(quota: 64 * MiB);
        h.Tools.Workspace.Quota.MaxEntries = 100;
        for (int i = 0; i < 150; i++)
        {
            h.WriteWorkspaceFile($"a/{i}", "");
        }

        // The walk gives up in a/ before it reaches z/: the lower bound it sees must not lift the quota.
        var shell = await h.CallAsync("shell", new { command = "mkdir -p z; head -c 8M /dev/zero > z/big; echo wrote $?; wc -c < z/big" });
        var write = await h.CallAsync("write_file", new { path = "z/small.txt", content = "x" });

        Assert.Contains("wrote 1\n0\n", shell.Output, StringComparison.Ordinal);
        Assert.Contains("holds more than 100 entries", shell.Output, StringComparison.Ordinal);
        Assert.False(write.Ok);
        Assert.Contains("holds more than 100 entries", write.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(h.InWorkspace("z/small.txt")));
    }

    [Fact]
    public async Task A_command_that_hides_the_workspace_from_the_walk_is_stopped()
    {
        using var h = Sandboxed(quota: 64 * MiB);
        h.Tools.Workspace.Quota.MaxEntries = 100;

        // Measured whole at the start; the command then buries the rest of the tree under more entries than the
        // walk looks at and keeps writing behind them.
        var result = await h.CallAsync("shell", new { command = "mkdir -p a z; i=0; while [ $i -lt 300 ]; do : > a/$i; i=$((i+1)); done; while :; do head -c 1M /dev/zero >> z/big || break; sleep 0.05; done", timeout = 30 });

        Assert.False(result.Ok, result.Output);
        Assert.Contains("the workspace went over its quota", result.Output, StringComparison.Ordinal);
        Assert.Contains("holds more than 100 entries", result.Output, StringComparison.Ordinal);
    }
}
