using System.Text.Json;
using Tern.Tools;

namespace Tern.Tools.Tests;

public sealed class AuditLogTests
{
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

        var lines = ReadLines(log);
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

        string content = ReadLines(log)[0].GetProperty("arguments").GetProperty("content").GetString()!;
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

        var lines = ReadLines(log);
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

        var line = ReadLines(log).Single();
        Assert.Equal("error", line.GetProperty("outcome").GetString());
        Assert.Equal("r\u2028", line.GetProperty("request_id").GetString());
    }
}
