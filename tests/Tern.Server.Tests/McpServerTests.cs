using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>tern serve --tools with a key, an audit log and a workspace: /mcp serves the tools to MCP clients.</summary>
public sealed class McpServerFixture : ServerFixture
{
    public const string Key = "mcp-test-key";

    internal TempDirectory Workspace { get; } = new();

    internal TempDirectory Logs { get; } = new();

    protected override ServerOptions Options => base.Options with
    {
        Tools = "all",
        ApiKey = Key,
        Workspace = Workspace.FullPath,
        AuditLog = Logs.File("audit.jsonl"),
    };

    public Uri Endpoint => new(Server.Address + "/mcp");

    /// <summary>The official SDK's client over streamable HTTP, sending the key as a bearer token.</summary>
    public Task<McpClient> ConnectAsync(string? key = Key) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = Endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = key is null ? null : new Dictionary<string, string> { ["Authorization"] = "Bearer " + key },
        }), cancellationToken: TestContext.Current.CancellationToken);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Workspace.Dispose();
        Logs.Dispose();
    }
}

/// <summary>
/// /mcp on tern serve --tools, driven by the official .NET MCP client: the built-in tools listed and called with the
/// same workspace, sandbox and audit log as the model's calls, behind the API key and the Host/Origin/JSON guard.
/// </summary>
public sealed class McpServerTests(McpServerFixture fixture) : IClassFixture<McpServerFixture>
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_official_client_lists_every_built_in_tool_with_its_schema()
    {
        await using var client = await fixture.ConnectAsync();
        var listed = await client.ListToolsAsync(cancellationToken: Cancellation);

        Assert.Equal(fixture.Server.Tools!.Tools.Select(t => t.Name), listed.Select(t => t.Name));
        foreach (var tool in fixture.Server.Tools.Tools)
        {
            var mcp = listed.Single(t => t.Name == tool.Name).ProtocolTool;
            Assert.Equal(tool.Description, mcp.Description);
            Assert.Equal(tool.Schema.GetProperty("function").GetProperty("parameters").GetRawText(), mcp.InputSchema.GetRawText());
        }

        Assert.Equal("tern", client.ServerInfo?.Name);
    }

    [Fact]
    public async Task The_official_client_writes_reads_and_runs_commands_in_the_workspace_and_each_call_is_audited()
    {
        await using var client = await fixture.ConnectAsync();

        var written = await client.CallToolAsync("write_file", new Dictionary<string, object?> { ["path"] = "mcp/notes.txt", ["content"] = "from mcp\n" }, cancellationToken: Cancellation);
        Assert.NotEqual(true, written.IsError);
        Assert.Equal("from mcp\n", File.ReadAllText(fixture.Workspace.File("mcp/notes.txt")));

        var read = await client.CallToolAsync("read_file", new Dictionary<string, object?> { ["path"] = "mcp/notes.txt" }, cancellationToken: Cancellation);
        Assert.NotEqual(true, read.IsError);
        Assert.Contains("from mcp", Text(read));

        var shell = await client.CallToolAsync("shell", new Dictionary<string, object?> { ["command"] = "wc -c < mcp/notes.txt && pwd" }, cancellationToken: Cancellation);
        Assert.NotEqual(true, shell.IsError);
        Assert.Contains("9", Text(shell));

        await fixture.Server.Tools!.AuditLog!.FlushAsync(Cancellation);
        var audited = File.ReadAllLines(fixture.Server.Options.AuditLog!).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("request_id").GetString()!.StartsWith("mcp-", StringComparison.Ordinal)).ToList();
        Assert.Contains(audited, e => e.GetProperty("tool").GetString() == "write_file" && e.GetProperty("outcome").GetString() == "ok");
        Assert.Contains(audited, e => e.GetProperty("tool").GetString() == "read_file" && e.GetProperty("arguments").GetProperty("path").ToString() == "mcp/notes.txt"); // other tests of the class log a numeric path too
        Assert.Contains(audited, e => e.GetProperty("tool").GetString() == "shell");
    }

    [Theory]
    [InlineData("read_file", """{"path": "/etc/passwd"}""")]
    [InlineData("read_file", """{"path": "../../../../etc/shadow"}""")]
    [InlineData("write_file", """{"path": "/usr/local/bin/pwned", "content": "x"}""")]
    [InlineData("edit_file", """{"path": "/etc/hosts", "old_text": "localhost", "new_text": "evil"}""")]
    [InlineData("read_file", """{"path": 42}""")]
    [InlineData("no_such_tool", "{}")]
    public async Task Calls_that_leave_the_workspace_or_are_malformed_are_error_results(string tool, string arguments)
    {
        await using var client = await fixture.ConnectAsync();
        var result = await client.CallToolAsync(tool, JsonSerializer.Deserialize<Dictionary<string, object?>>(arguments)!, cancellationToken: Cancellation);

        Assert.True(result.IsError, Text(result));
        Assert.StartsWith("error:", Text(result));
        Assert.DoesNotContain("root:", Text(result));
        Assert.False(File.Exists("/usr/local/bin/pwned"));
        await fixture.Server.Tools!.AuditLog!.FlushAsync(Cancellation);
        Assert.Contains(File.ReadAllLines(fixture.Server.Options.AuditLog!).Select(l => JsonDocument.Parse(l).RootElement),
            e => e.GetProperty("tool").GetString() == tool && e.GetProperty("outcome").GetString() == "error");
    }

    [Fact]
    public async Task The_shell_runs_in_the_sandbox_so_system_secrets_stay_out_of_reach()
    {
        await using var client = await fixture.ConnectAsync();
        var result = await client.CallToolAsync("shell", new Dictionary<string, object?> { ["command"] = "cat /etc/shadow; touch /usr/pwned-by-mcp; echo done" }, cancellationToken: Cancellation);

        string text = Text(result);
        Assert.DoesNotContain("root:", text);
        Assert.Contains("done", text); // the command did run, its reads and writes outside the workspace failed
        Assert.False(File.Exists("/usr/pwned-by-mcp"));
    }

    [Fact]
    public async Task Mcp_needs_the_api_key()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await Assert.ThrowsAsync<HttpRequestException>(() => fixture.ConnectAsync(key: null))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Assert.ThrowsAsync<HttpRequestException>(() => fixture.ConnectAsync(key: "wrong"))).StatusCode);

        var (status, error) = await PostAsync(Initialize, key: null);
        Assert.Equal(401, status);
        Assert.Equal("invalid_api_key", error.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(401, (await PostAsync(Initialize, key: "wrong")).Status);
    }

    [Fact]
    public async Task An_mcp_clients_json_post_passes_the_guard()
    {
        // What the official clients send: JSON, accepting JSON or an event stream, no Origin.
        var (status, text) = await PostRawAsync(Initialize);
        Assert.Equal(200, status);
        Assert.Contains("\"tern\"", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("text/plain", null, null, 415)]
    [InlineData("application/x-www-form-urlencoded", null, null, 415)]
    [InlineData("application/json", "http://evil.example", null, 403)]
    [InlineData("application/json", "null", null, 403)]
    [InlineData("application/json", null, "rebind.example", 403)]
    public async Task Browser_style_requests_to_mcp_are_refused_before_a_tool_runs(string contentType, string? origin, string? host, int expected)
    {
        string marker = $"marker-{Guid.NewGuid():N}.txt";
        string call = JsonSerializer.Serialize(new
        {
            jsonrpc = "2.0", id = 2, method = "tools/call",
            @params = new { name = "write_file", arguments = new { path = marker, content = "pwned" } },
        });
        var (status, text) = await PostRawAsync(call, contentType, origin, host);

        Assert.Equal(expected, status);
        Assert.Contains(expected == 415 ? "unsupported_media_type" : origin is null ? "host_not_allowed" : "origin_not_allowed", text, StringComparison.Ordinal);
        Assert.False(File.Exists(fixture.Workspace.File(marker)));
    }

    private const string Initialize = """
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}
        """;

    private static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    private async Task<(int Status, JsonElement Body)> PostAsync(string json, string? key)
    {
        var (status, text) = await PostRawAsync(json, key: key);
        return (status, JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task<(int Status, string Text)> PostRawAsync(string json, string contentType = "application/json", string? origin = null, string? host = null, string? key = McpServerFixture.Key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(json, Encoding.UTF8) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (key is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        if (host is not null)
            request.Headers.Host = $"{host}:{new Uri(fixture.Server.Address).Port}";
        var response = await fixture.Http.SendAsync(request, Cancellation);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(Cancellation));
    }
}

/// <summary>Without --tools there is no /mcp: a 404 in OpenAI's error shape, whatever the method.</summary>
public sealed class McpWithoutToolsTests(ServerFixture plain) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Mcp_is_not_found_without_tools()
    {
        var (status, body, _) = await plain.PostAsync("/mcp", """{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}""");
        Assert.Equal(404, status);
        Assert.Equal("not_found", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (HttpStatusCode)(await plain.GetAsync("/mcp")).Status);
    }
}
