using System.Text.Json;
using Tern.Tools;

namespace Tern.Tools.Tests;

public sealed class AuditLogTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private static JsonElement[] ReadLines(ToolHarness h)
    {
        h.FlushAuditLog();
        return ReadLines(h.Tools.AuditLog!.Path);
    }

    private static JsonElement[] ReadLines(string path) =>
        File.ReadAllLines(path).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToArray();

    [Fact]
    public void Every_call_is_one_json_line_with_time_request_tool_arguments_outcome_bytes_and_duration()
    {
        using var logDirectory = new TempDirectory();
        string log = logDirectory.File("audit.jsonl");
        var clock = new TimeToolTests.FixedClock(new DateTimeOffset(2026, 12, 1, 7, 30, 0, TimeSpan.Zero), TimeZoneInfo.Utc);
        using var h = new ToolHarness(auditLog: log, clock: clock);
        h.WriteWorkspaceFile("a.txt", "hello\n");

        h.Tools.Invoke("read_file", """{"path":"a.txt"}""", "req-1");
        h.Tools.Invoke("read_file", """{"path":"../etc/passwd"}""", "req-2");
        h.Tools.Invoke("nope", "{not json", "req-3");

        var lines = ReadLines(h);
        Assert.Equal(3, lines.Length);
        var ok = lines[0];
        Assert.Equal("2026-12-01T07:30:00.000+00:00", ok.GetProperty("time").GetString());
        Assert.Equal("req-1", ok.GetProperty("request_id").GetString());
        Assert.Equal("read_file", ok.GetProperty("tool").GetString());
        Assert.Equal("a.txt", ok.GetProperty("arguments").GetProperty("path").GetString());
        Assert.Equal("ok", ok.GetProperty("outcome").GetString());
        Assert.Equal(JsonValueKind.Null, ok.GetProperty("message").ValueKind);
        Assert.Equal(6, ok.GetProperty("bytes").GetInt32());
        Assert.True(ok.GetProperty("duration_ms").GetDouble() >= 0);

        var refused = lines[1];
        Assert.Equal("error", refused.GetProperty("outcome").GetString());
        Assert.StartsWith("'../etc/passwd' is outside the workspace", refused.GetProperty("message").GetString(), StringComparison.Ordinal);

        var malformed = lines[2];
        Assert.Equal("nope", malformed.GetProperty("tool").GetString());
        Assert.Equal("{not json", malformed.GetProperty("arguments").GetString());
        Assert.Equal("error", malformed.GetProperty("outcome").GetString());
    }

    [Fact]
    public void Long_argument_strings_are_shortened_in_the_log()
    {
        using var logDirectory = new TempDirectory();
        string log = logDirectory.File("audit.jsonl");
        using var h = new ToolHarness(auditLog: log);

        h.Call("write_file", new { path = "big.txt", content = new string('x', 100_000) });

        string content = ReadLines(h)[0].GetProperty("arguments").GetProperty("content").GetString()!;
        Assert.Equal(new string('x', 1024) + "… [100000 characters]", content);
        Assert.True(new FileInfo(log).Length < 2000);
    }

    [Fact]
    public async Task Concurrent_calls_append_whole_lines()
    {
        using var logDirectory = new TempDirectory();
        string log = logDirectory.File("audit.jsonl");
        using var h = new ToolHarness(auditLog: log);
        h.WriteWorkspaceFile("a.txt", new string('a', 5000));

        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(
            () => h.Tools.InvokeAsync(i % 2 == 0 ? "read_file" : "time", i % 2 == 0 ? """{"path":"a.txt"}""" : null, $"r{i}"),
            TestContext.Current.CancellationToken)));

        var lines = ReadLines(h);
        Assert.Equal(200, lines.Length);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"r{i}").Order(), lines.Select(l => l.GetProperty("request_id").GetString()).Order());
    }

    [Fact]
    public void Hostile_unicode_in_arguments_keeps_the_line_valid_json()
    {
        using var logDirectory = new TempDirectory();
        string log = logDirectory.File("audit.jsonl");
        using var h = new ToolHarness(auditLog: log);

        h.Tools.Invoke("read_file", """{"path":"\ud800\u0000\u202e","\udc00":1}""", "r\u2028");

        var line = ReadLines(h).Single();
        Assert.Equal("error", line.GetProperty("outcome").GetString());
        Assert.Equal("r\u2028", line.GetProperty("request_id").GetString());
    }

    [Fact]
    public void A_log_inside_the_workspace_is_refused_at_start_naming_both_paths()
    {
        using var h = new ToolHarness();
        Directory.CreateSymbolicLink(h.InOutside("to-ws"), h.Workspace);

        foreach (string log in new[] { h.InWorkspace("audit.jsonl"), h.InOutside("to-ws/sub/../audit.jsonl") })
        {
            var e = Assert.Throws<ArgumentException>(() => ToolSet.Create("time", new ToolSetOptions { WorkspaceRoot = h.Workspace, AuditLogPath = log }));
            Assert.Contains(Path.GetFullPath(log), e.Message, StringComparison.Ordinal);
            Assert.Contains($"inside the workspace {h.Tools.Workspace.Root}", e.Message, StringComparison.Ordinal);
        }

        Assert.Empty(h.WorkspaceFiles());
    }

    /// <summary>The workspace bind-mounted elsewhere is the same directory: a log under that path is inside it too.</summary>
    [Fact]
    public void A_log_in_the_workspace_reached_through_a_bind_mount_is_refused()
    {
        using var h = new ToolHarness();
        string alias = h.InOutside("alias");
        Directory.CreateDirectory(alias);
        Assert.True(Processes.Run("mount", "--bind", h.Workspace, alias).ExitCode == 0, "the test needs root to bind-mount (CI runs as root)");
        try
        {
            var e = Assert.Throws<ArgumentException>(() =>
                ToolSet.Create("time", new ToolSetOptions { WorkspaceRoot = h.Workspace, AuditLogPath = Path.Combine(alias, "audit.jsonl") }));
            Assert.Contains($"inside the workspace {h.Tools.Workspace.Root}", e.Message, StringComparison.Ordinal);
            Assert.Empty(h.WorkspaceFiles());
        }
        finally
        {
            Processes.Run("umount", alias);
        }
    }

    [Fact]
    public void A_relative_log_with_the_default_workspace_lands_in_the_current_directory_and_is_refused()
    {
        string cwd = Directory.GetCurrentDirectory();
        string name = $"audit-{Guid.NewGuid():N}.jsonl";

        var e = Assert.Throws<ArgumentException>(() => ToolSet.Create("time", new ToolSetOptions { AuditLogPath = name }));

        Assert.Contains(Path.Combine(cwd, name), e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(name));
    }

    [Fact]
    public async Task A_symbolic_link_fifo_or_hard_link_at_the_log_path_is_refused_at_start()
    {
        using var h = new ToolHarness();
        string target = h.WriteOutsideFile("bashrc", "original\n");
        string link = h.InOutside("link.jsonl");
        File.CreateSymbolicLink(link, target);
        string fifo = h.InOutside("fifo.jsonl");
        Assert.Equal(0, Posix.MakeFifo(fifo, 0x1b6));
        string hardLink = h.InOutside("hard.jsonl");
        Assert.Equal(0, Posix.Link(target, hardLink));

        string Refusal(string log) => Assert.Throws<ArgumentException>(
            () => ToolSet.Create("time", new ToolSetOptions { WorkspaceRoot = h.Workspace, AuditLogPath = log })).Message;

        Assert.Equal($"the audit log {link} is a symbolic link; it must be a regular file", Refusal(link));
        Assert.Equal($"the audit log {hardLink} has 2 hard links; it must be a file of its own", Refusal(hardLink));
        string fifoRefusal = await Task.Run(() => Refusal(fifo), TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.Equal($"the audit log {fifo} is a FIFO (named pipe); it must be a regular file", fifoRefusal);
        Assert.Equal("original\n", File.ReadAllText(target));
    }

    [Fact]
    public async Task A_symbolic_link_swapped_in_after_start_is_never_written_through()
    {
        using var logDirectory = new TempDirectory();
        string log = logDirectory.File("audit.jsonl");
        using var h = new ToolHarness(auditLog: log);
        string target = h.WriteOutsideFile("bashrc", "original\n");
        h.Tools.Invoke("time", null, "before");

        File.Move(log, logDirectory.File("audit.old"));
        File.CreateSymbolicLink(log, target);
        await CallsCompleteInBoundedTime(h, 20);
        await h.Tools.AuditLog!.FlushAsync(TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.Equal("original\n", File.ReadAllText(target));
        Assert.Equal(21, ReadLines(logDirectory.File("audit.old")).Length);
    }

    [Fact]
    public async Task A_fifo_swapped_in_after_start_never_blocks_a_call()
    {
        using var logDirectory = new TempDirectory();
        string log = logDirectory.File("audit.jsonl");
        using var h = new ToolHarness(auditLog: log);
        h.Tools.Invoke("time", null, "before");

        File.Move(log, logDirectory.File("audit.old"));
        Assert.Equal(0, Posix.MakeFifo(log, 0x1b6));
        await CallsCompleteInBoundedTime(h, 20);
        await h.Tools.AuditLog!.FlushAsync(TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.Equal(21, ReadLines(logDirectory.File("audit.old")).Length);
    }

    [Fact]
    public void The_sandboxed_shell_cannot_see_a_log_outside_the_workspace()
    {
        using var logDirectory = new TempDirectory();
        string log = logDirectory.File("audit.jsonl");
        using var h = new ToolHarness(auditLog: log);

        var result = h.Call("shell", new { command = $"test -e '{log}' && echo visible || echo hidden" });

        Assert.True(result.Ok, result.Output);
        Assert.StartsWith("hidden", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unsafe_shell_swapping_the_log_for_a_link_then_a_fifo_neither_writes_outside_nor_blocks_calls()
    {
        using var logDirectory = new TempDirectory();
        string log = logDirectory.File("audit.jsonl");
        using var h = new ToolHarness(shell: new ShellOptions { Unsafe = true }, auditLog: log);
        string target = h.WriteOutsideFile("bashrc", "original\n");

        Assert.True((await Bounded(h, "shell", $$"""{"command": "ln -sf '{{target}}' '{{log}}'"}""")).Ok);
        await CallsCompleteInBoundedTime(h, 10);
        Assert.True((await Bounded(h, "shell", $$"""{"command": "rm '{{log}}' && mkfifo '{{log}}'"}""")).Ok);
        await CallsCompleteInBoundedTime(h, 10);
        await h.Tools.AuditLog!.FlushAsync(TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.Equal("original\n", File.ReadAllText(target));
        Assert.Equal(0, h.Tools.AuditLog.WriteFailures);
    }

    [Fact]
    public async Task Appends_never_wait_for_the_writer_and_every_line_is_written_or_counted_as_dropped()
    {
        using var logDirectory = new TempDirectory();
        string path = logDirectory.File("audit.jsonl");
        await using var log = new AuditLog(path, capacity: 1);

        for (int i = 0; i < 5000; i++)
        {
            log.Append(DateTimeOffset.UnixEpoch, $"r{i}", "time", null, null, "ok", null, 0, TimeSpan.Zero);
        }

        await log.FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(5000, ReadLines(path).Length + log.Dropped);
        Assert.Equal(0, log.WriteFailures);
    }

    [Fact]
    public async Task A_failed_write_is_reported_once_and_counted_and_the_call_still_succeeds()
    {
        using var logDirectory = new TempDirectory();
        string path = logDirectory.File("audit.jsonl");
        var reports = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var log = new AuditLog(path, report: reports.Enqueue);
        log.Handle.Dispose(); // every write now fails

        for (int i = 0; i < 3; i++)
        {
            log.Append(DateTimeOffset.UnixEpoch, $"r{i}", "time", null, null, "ok", null, 0, TimeSpan.Zero);
        }

        await log.FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(3, log.WriteFailures);
        string report = Assert.Single(reports);
        Assert.StartsWith($"audit log {path}: a write failed", report, StringComparison.Ordinal);
    }

    private static async Task CallsCompleteInBoundedTime(ToolHarness h, int count)
    {
        for (int i = 0; i < count; i++)
        {
            Assert.True((await Bounded(h, "time", null)).Ok);
        }
    }

    /// <summary>One call, failing the test (instead of hanging it) when it does not complete in time.</summary>
    private static Task<ToolResult> Bounded(ToolHarness h, string tool, string? arguments) =>
        Task.Run(() => h.Tools.InvokeAsync(tool, arguments, "bounded", TestContext.Current.CancellationToken), TestContext.Current.CancellationToken)
            .WaitAsync(Bound, TestContext.Current.CancellationToken);
}
