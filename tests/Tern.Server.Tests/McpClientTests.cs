using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Tern.Server;
using Tern.Tools.Mcp;

namespace Tern.Server.Tests;

/// <summary>
/// `tern serve --tools --mcp-config FILE` with the tests' own MCP server (npm/mcp-test-server.mjs, the official
/// TypeScript SDK over stdio, under node) run in the sandbox: "test" without network, "net" with it, "fragile" for
/// the crash and disable tests, and "broken", which cannot start. The npm folder (the script and its node_modules) is
/// shown read-only through the entry's readOnlyPaths.
/// </summary>
public class McpClientFixture : ScriptedToolServerFixture
{
    private readonly TempDirectory _configDirectory = new();

    /// <summary>The servers of the config file (each with the test server's ten tools: a prompt holds about three servers' worth).</summary>
    protected virtual string[] Servers => ["test", "net", "fragile", "broken"];

    internal TempDirectory Outside { get; } = new();

    internal string AuditLog { get; } = Path.Combine(Path.GetTempPath(), $"tern-audit-{Guid.NewGuid():N}.jsonl");

    private string ConfigPath => _configDirectory.File("mcp.json");

    protected override ServerOptions Options => base.Options with
    {
        McpConfig = ConfigPath,
        AuditLog = AuditLog,
        ToolTimeoutSeconds = 5,
        Mcp = new McpOptions { RestartDelay = TimeSpan.FromMilliseconds(100) },
    };

    public override async ValueTask InitializeAsync()
    {
        await Npm.EnsureInstalledAsync();
        string script = JsonSerializer.Serialize(Path.Combine(Npm.Folder, "mcp-test-server.mjs"));
        string folder = JsonSerializer.Serialize(Npm.Folder);
        string Node(string extra) => $$"""{"command": "/usr/bin/node", "args": [{{script}}], "readOnlyPaths": [{{folder}}], "env": {"GREETING": "hello"}{{extra}}}""";
        var entries = new Dictionary<string, string>
        {
            ["test"] = Node(""),
            ["net"] = Node(", \"network\": true"),
            ["fragile"] = Node(""),
            ["broken"] = """{"command": "/usr/bin/false"}""",
        };
        File.WriteAllText(ConfigPath, "{\"mcpServers\": {" + string.Join(", ", Servers.Select(n => $"\"{n}\": {entries[n]}")) + "}}");
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _configDirectory.Dispose();
        Outside.Dispose();
        File.Delete(AuditLog);
    }
}

public sealed class McpClientTests(McpClientFixture fixture) : IClassFixture<McpClientFixture>
{
    private async Task<(bool Ok, string Output)> CallAsync(string name, string arguments)
    {
        var (status, body, _) = await fixture.PostAsync("/tools/call", $$"""{"name": "{{name}}", "arguments": {{arguments}}}""");
        Assert.True(status == 200, body.GetRawText());
        return (body.GetProperty("ok").GetBoolean(), body.GetProperty("output").GetString()!);
    }

    [Fact]
    public async Task The_servers_tools_join_the_built_in_ones_and_are_callable_and_audited()
    {
        var (status, text) = await fixture.GetAsync("/tools");
        Assert.Equal(200, status);
        var names = JsonDocument.Parse(text).RootElement.EnumerateArray().Select(t => t.GetProperty("function").GetProperty("name").GetString()).ToList();
        Assert.Contains("read_file", names);
        Assert.Contains("test_echo", names);
        Assert.Contains("test_add", names);
        Assert.Contains("net_connect", names);
        var add = JsonDocument.Parse(text).RootElement.EnumerateArray().Single(t => t.GetProperty("function").GetProperty("name").GetString() == "test_add");
        var parameters = add.GetProperty("function").GetProperty("parameters");
        Assert.Equal("number", parameters.GetProperty("properties").GetProperty("a").GetProperty("type").GetString());
        Assert.False(parameters.TryGetProperty("$schema", out _));

        Assert.Equal((true, "5"), await CallAsync("test_add", """{"a": 2, "b": 3}"""));
        var (ok, output) = await CallAsync("test_add", """{"a": "two"}""");
        Assert.False(ok, output);
        await fixture.Server.Tools!.AuditLog!.FlushAsync(TestContext.Current.CancellationToken);
        Assert.Contains("\"test_add\"", File.ReadAllText(fixture.AuditLog));
    }

    [Fact]
    public async Task The_server_sees_only_the_workspace_its_env_and_a_read_only_system()
    {
        File.WriteAllText(fixture.Outside.File("secret.txt"), "outside secret");
        var (ok, output) = await CallAsync("test_read", JsonSerializer.Serialize(new { path = fixture.Outside.File("secret.txt") }));
        Assert.False(ok);
        Assert.DoesNotContain("outside secret", output);
        (ok, output) = await CallAsync("test_read", """{"path": "/etc/shadow"}""");
        Assert.False(ok, output);
        (ok, output) = await CallAsync("test_read", """{"path": "/proc/1/root/etc/shadow"}""");
        Assert.False(ok, output);

        (ok, output) = await CallAsync("test_write", """{"path": "/usr/tern-mcp-escape", "text": "x"}""");
        Assert.False(ok, output);
        Assert.False(File.Exists("/usr/tern-mcp-escape"));
        (ok, output) = await CallAsync("test_write", """{"path": "/etc/tern-mcp-escape", "text": "x"}""");
        Assert.False(ok, output);
        Assert.False(File.Exists("/etc/tern-mcp-escape"));
        (ok, _) = await CallAsync("test_write", JsonSerializer.Serialize(new { path = Path.Combine(Npm.Folder, "tern-mcp-escape"), text = "x" }));
        Assert.False(ok);
        Assert.False(File.Exists(Path.Combine(Npm.Folder, "tern-mcp-escape")));

        (ok, output) = await CallAsync("test_write", """{"path": "made-by-mcp.txt", "text": "inside"}""");
        Assert.True(ok, output);
        Assert.Equal("inside", File.ReadAllText(fixture.Workspace.File("made-by-mcp.txt")));

        Environment.SetEnvironmentVariable("TERN_MCP_TEST_LEAK", "leaked");
        (ok, output) = await CallAsync("test_env", "{}");
        Assert.True(ok, output);
        var seen = JsonDocument.Parse(output).RootElement;
        var variables = seen.GetProperty("env").EnumerateObject().Select(p => p.Name).Order().ToList();
        Assert.Equal(["GREETING", "HOME", "LANG", "PATH", "PWD", "TMPDIR"], variables); // PWD: bwrap's --chdir
        Assert.Equal(fixture.Server.Tools!.Workspace.Root, seen.GetProperty("cwd").GetString());
    }

    [Fact]
    public async Task Network_is_only_there_for_a_server_whose_entry_says_so()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        string arguments = $$"""{"host": "127.0.0.1", "port": {{port}}}""";

        var (ok, output) = await CallAsync("test_connect", arguments);
        Assert.False(ok, output);
        Assert.False(listener.Pending());

        (ok, output) = await CallAsync("net_connect", arguments);
        Assert.True(ok, output);
        Assert.Equal("connected", output);
        using var accepted = await listener.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
        Assert.NotNull(accepted);
    }

    [Fact]
    public async Task A_fork_flood_is_held_to_the_process_limit()
    {
        var (ok, output) = await CallAsync("test_forks", """{"count": 400}""");
        Assert.True(ok, output);
        var counts = JsonDocument.Parse(output).RootElement;
        Assert.True(counts.GetProperty("started").GetInt32() < 200, output);
        Assert.True(counts.GetProperty("refused").GetInt32() > 200, output);
        Assert.Equal((true, "echo: still here"), await CallAsync("test_echo", """{"text": "still here"}"""));
    }

    [Fact]
    public async Task A_hanging_call_times_out_and_the_server_is_restarted()
    {
        var (ok, output) = await CallAsync("test_hang", "{}");
        Assert.False(ok);
        Assert.Contains("did not answer within 5 s", output);
        Assert.Equal(200, (await fixture.GetAsync("/health")).Status);
        Assert.Equal((true, "echo: back"), await CallAsync("test_echo", """{"text": "back"}"""));
    }

    [Fact]
    public async Task Floods_are_capped_and_the_server_recovers()
    {
        var (ok, output) = await CallAsync("test_flood", """{"stream": "stdout", "megabytes": 16}""");
        Assert.False(ok);
        Assert.Contains("longer than", output);
        Assert.Equal((true, "echo: after stdout"), await CallAsync("test_echo", """{"text": "after stdout"}"""));

        (ok, output) = await CallAsync("test_flood", """{"stream": "stderr", "megabytes": 32}""");
        Assert.Equal((true, "flooded"), (ok, output));

        (ok, output) = await CallAsync("test_big", """{"kilobytes": 200}""");
        Assert.True(ok);
        Assert.True(output.Length < 20_000, $"{output.Length} characters");
        Assert.Contains("bytes of output omitted", output);
    }

    [Fact]
    public async Task A_crashing_server_is_restarted_then_disabled_and_tern_keeps_serving()
    {
        var (ok, output) = await CallAsync("fragile_crash", "{}");
        Assert.False(ok);
        Assert.Contains("exited with code 3", output);
        Assert.Contains("crashing on purpose", output);
        Assert.Equal((true, "echo: restarted"), await CallAsync("fragile_echo", """{"text": "restarted"}"""));

        for (int i = 0; i < 4; i++)
            (ok, output) = await CallAsync("fragile_crash", "{}");
        Assert.False(ok);
        Assert.Contains("now disabled", output);
        (ok, output) = await CallAsync("fragile_echo", """{"text": "x"}""");
        Assert.False(ok);
        Assert.Contains("is disabled", output);
        Assert.Contains("mcp fragile: DISABLED after 4 failures in a row", fixture.Log.ToString());
        Assert.Equal((true, "echo: unaffected"), await CallAsync("test_echo", """{"text": "unaffected"}"""));
        Assert.Equal(200, (await fixture.GetAsync("/health")).Status);
    }

    [Fact]
    public async Task A_server_that_cannot_start_is_left_out_with_a_log_line()
    {
        Assert.Contains("mcp broken: NOT STARTED", fixture.Log.ToString());
        var (_, text) = await fixture.GetAsync("/tools");
        Assert.DoesNotContain("broken_", text);
        Assert.Contains("mcp test (stdio, sandboxed, no network): ", fixture.Log.ToString());
    }
}

/// <summary>One MCP server and one built-in tool, so the tools' schemas leave room in the tiny model's context.</summary>
public sealed class McpScriptedFixture : McpClientFixture
{
    protected override string[] Servers => ["test"];

    protected override ServerOptions Options => base.Options with { Tools = "time" };
}

/// <summary>A model's tool call to an MCP tool, end to end: parsed from the scripted reply, run, streamed back, answered.</summary>
public sealed class McpToolLoopTests(McpScriptedFixture fixture) : IClassFixture<McpScriptedFixture>
{
    [Fact]
    public async Task A_scripted_model_call_runs_the_mcp_tool_and_streams_its_result()
    {
        fixture.Script("<tool_call>\n{\"name\": \"test_echo\", \"arguments\": {\"text\": \"from the model\"}}\n</tool_call>", "It echoed.");
        var events = await Sse.ChunksAsync(fixture, """{"messages": [{"role": "user", "content": "echo"}], "stream": true}""");
        var run = events.SelectMany(e => e.GetProperty("choices").EnumerateArray()).Select(c => c.GetProperty("delta"))
            .Where(d => d.TryGetProperty("tern_tool_calls", out _)).Select(d => d.GetProperty("tern_tool_calls")[0]).Single();
        Assert.Equal("test_echo", run.GetProperty("name").GetString());
        Assert.True(run.GetProperty("ok").GetBoolean());
        Assert.Equal("echo: from the model", run.GetProperty("output").GetString());
        string content = string.Concat(events.SelectMany(e => e.GetProperty("choices").EnumerateArray()).Select(c => c.GetProperty("delta"))
            .Where(d => d.TryGetProperty("content", out var v) && v.ValueKind == JsonValueKind.String).Select(d => d.GetProperty("content").GetString()));
        Assert.Equal("It echoed.", content.Trim());
    }
}
