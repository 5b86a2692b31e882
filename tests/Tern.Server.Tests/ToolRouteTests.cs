using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

public sealed class ToolServerFixture : ServerFixture
{
    internal TempDirectory Workspace { get; } = new();

    protected override ServerOptions Options => base.Options with
    {
        Tools = "all",
        Workspace = Workspace.FullPath,
        AuditLog = Path.Combine(Path.GetTempPath(), $"tern-audit-{Guid.NewGuid():N}.jsonl"),
    };
}

/// <summary>GET /tools and POST /tools/call, under the sandbox and the audit log.</summary>
public sealed class ToolRouteTests(ToolServerFixture fixture) : IClassFixture<ToolServerFixture>
{
    [Fact]
    public async Task Tools_lists_the_enabled_tools_with_their_schemas()
    {
        var (status, text) = await fixture.GetAsync("/tools");
        Assert.Equal(200, status);
        var names = JsonDocument.Parse(text).RootElement.EnumerateArray().Select(t => t.GetProperty("function").GetProperty("name").GetString()).ToList();
        Assert.Equal(["read_file", "write_file", "edit_file", "grep", "shell", "time", "file_glob_search", "get_info"], names);
    }

    [Fact]
    public async Task Tools_call_runs_a_tool_in_the_workspace_and_audits_it()
    {
        File.WriteAllText(fixture.Workspace.File("a.txt"), "alpha\n");
        var (status, body, _) = await fixture.PostAsync("/tools/call", """{"name": "read_file", "arguments": {"path": "a.txt"}}""");
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("ok").GetBoolean());
        Assert.Contains("alpha", body.GetProperty("output").GetString());
        await fixture.Server.Tools!.AuditLog!.FlushAsync(TestContext.Current.CancellationToken);
        Assert.Contains("\"read_file\"", File.ReadAllText(fixture.Server.Options.AuditLog!));
        var (_, metrics) = await fixture.GetAsync("/metrics");
        Assert.Contains("tern_audit_log_write_failures_total 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("tern_audit_log_dropped_total 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tools_call_refuses_paths_outside_the_workspace_and_unknown_tools()
    {
        var (status, body, _) = await fixture.PostAsync("/tools/call", """{"name": "read_file", "arguments": {"path": "/etc/passwd"}}""");
        Assert.Equal(200, status);
        Assert.False(body.GetProperty("ok").GetBoolean());
        Assert.DoesNotContain("root:", body.GetProperty("output").GetString());
        Assert.Equal(400, (await fixture.PostAsync("/tools/call", """{"name": "rm_rf", "arguments": {}}""")).Status);
    }

    [Fact]
    public async Task Chat_with_tools_on_still_answers_plain_requests()
    {
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 8, "temperature": 0}""");
        Assert.Equal(200, status);
        Assert.Equal(8, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }
}

public sealed class ToolSafetyTests(ServerFixture plain) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Tools_are_off_unless_asked_for()
    {
        Assert.Equal(404, (await plain.GetAsync("/tools")).Status);
        Assert.Equal(404, (await plain.PostAsync("/tools/call", """{"name": "time"}""")).Status);
    }

    [Fact]
    public async Task Tools_on_a_non_loopback_address_need_an_api_key()
    {
        var options = new ServerOptions { ModelPath = SharedData.Path("models/stories260K.gguf"), Host = "0.0.0.0", Port = 0, Tools = "all" };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => TernServer.StartAsync(options, TextWriter.Null, TestContext.Current.CancellationToken));
        Assert.Contains("--api-key", e.Message);
    }
}
