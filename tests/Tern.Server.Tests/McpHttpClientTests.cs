using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>A streamable HTTP MCP server in the config (<c>url</c> and <c>headers</c>), hosted by the test with the official C# SDK.</summary>
public sealed class McpHttpClientTests
{
    [Fact]
    public async Task An_http_server_with_headers_joins_the_tools_and_one_without_its_key_is_left_out()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var shout = McpServerTool.Create((string text) => text.ToUpperInvariant(), new McpServerToolCreateOptions { Name = "shout", Description = "Upper-case the text." });
        builder.Services.AddMcpServer().WithHttpTransport().WithTools([shout]);
        await using var app = builder.Build();
        app.Use(async (HttpContext http, RequestDelegate next) =>
        {
            if (http.Request.Headers["X-Test-Key"] != "s3cret")
            {
                http.Response.StatusCode = 401;
                return;
            }

            await next(http);
        });
        app.MapMcp("/mcp");
        await app.StartAsync(TestContext.Current.CancellationToken);
        string url = app.Urls.First() + "/mcp";

        using var workspace = new TempDirectory();
        using var configDirectory = new TempDirectory();
        string config = configDirectory.File("mcp.json");
        File.WriteAllText(config, $$$"""
            {"mcpServers": {
              "remote": {"url": "{{{url}}}", "headers": {"X-Test-Key": "s3cret"}},
              "nokey": {"type": "http", "url": "{{{url}}}"}
            }}
            """);
        var log = new StringWriter();
        var options = new ServerOptions
        {
            ModelPath = SharedData.Path("models/stories260K.gguf"), Port = 0, Tools = "time", Workspace = workspace.FullPath, McpConfig = config,
        };
        await using var server = await TernServer.StartAsync(options, log, TestContext.Current.CancellationToken);
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };

        string tools = await http.GetStringAsync("/tools", TestContext.Current.CancellationToken);
        var names = JsonDocument.Parse(tools).RootElement.EnumerateArray().Select(t => t.GetProperty("function").GetProperty("name").GetString()).ToList();
        Assert.Equal(["time", "remote_shout"], names);
        Assert.Contains("mcp nokey: NOT STARTED", log.ToString());

        var response = await http.PostAsync("/tools/call", new StringContent("""{"name": "remote_shout", "arguments": {"text": "hi there"}}""", System.Text.Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.True(body.GetProperty("ok").GetBoolean(), body.GetRawText());
        Assert.Equal("HI THERE", body.GetProperty("output").GetString());
    }

    [Theory]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "netwrok": true}}}""", "mcpServers.a.netwrok is not a known key")]
    [InlineData("""{"mcpServers": {"a b": {"command": "x"}}}""", "mcpServers.a b is not a valid server name")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "args": "--flag"}}}""", "mcpServers.a.args must be an array of strings")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "url": "http://127.0.0.1/"}}}""", "mcpServers.a needs either \"command\"")]
    [InlineData("""{"servers": {}}""", "servers is not a known key")]
    public async Task A_bad_config_stops_the_start_naming_the_file_and_field(string json, string expected)
    {
        using var directory = new TempDirectory();
        string config = directory.File("bad.json");
        File.WriteAllText(config, json);
        var options = new ServerOptions { ModelPath = SharedData.Path("models/stories260K.gguf"), Port = 0, Tools = "time", Workspace = directory.FullPath, McpConfig = config };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => TernServer.StartAsync(options, TextWriter.Null, TestContext.Current.CancellationToken));
        Assert.Contains($"--mcp-config {config}: {expected}", e.Message);
    }

    [Fact]
    public async Task An_mcp_config_without_tools_is_refused()
    {
        var options = new ServerOptions { ModelPath = SharedData.Path("models/stories260K.gguf"), Port = 0, McpConfig = "/nonexistent/mcp.json" };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => TernServer.StartAsync(options, TextWriter.Null, TestContext.Current.CancellationToken));
        Assert.Contains("--mcp-config needs --tools", e.Message);
    }
}
