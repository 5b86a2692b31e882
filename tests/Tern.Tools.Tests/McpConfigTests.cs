using Tern.Tools.Mcp;

namespace Tern.Tools.Tests;

/// <summary>The --mcp-config file: the shape every MCP client uses, and an error naming the file and field for anything else.</summary>
public sealed class McpConfigTests
{
    [Fact]
    public void Stdio_and_http_entries_are_read()
    {
        var servers = McpConfigFile.Parse("""
            {"mcpServers": {
              "files": {"command": "/usr/bin/node", "args": ["server.mjs", "--root", "."], "env": {"TOKEN": "t"}, "network": true, "cwd": "tools",
                        "readOnlyPaths": ["/opt/mcp"]},
              "remote": {"type": "http", "url": "https://example.test/mcp", "headers": {"Authorization": "Bearer k"}},
            }}
            """, "mcp.json");
        Assert.Equal(2, servers.Count);
        var files = servers[0];
        Assert.Equal(("files", "/usr/bin/node", false), (files.Name, files.Command, files.IsHttp));
        Assert.Equal(["server.mjs", "--root", "."], files.Args);
        Assert.Equal([new KeyValuePair<string, string>("TOKEN", "t")], files.Env);
        Assert.True(files.Network);
        Assert.Equal("tools", files.Cwd);
        Assert.Equal(["/opt/mcp"], files.ReadOnlyPaths);
        var remote = servers[1];
        Assert.True(remote.IsHttp);
        Assert.Equal(new Uri("https://example.test/mcp"), remote.Url);
        Assert.Equal([new KeyValuePair<string, string>("Authorization", "Bearer k")], remote.Headers);
        Assert.False(McpConfigFile.Parse("""{"mcpServers": {"a": {"command": "x"}}}""", "f").Single().Network);
    }

    [Theory]
    [InlineData("[]", "(top level) must be an object")]
    [InlineData("{", "not valid JSON")]
    [InlineData("""{"mcpServers": []}""", "mcpServers is missing or not an object")]
    [InlineData("""{"mcpServers": {"a_b": {"command": "x"}}}""", "mcpServers.a_b is not a valid server name")]
    [InlineData("""{"mcpServers": {"a": {"command": "x"}, "A": {"command": "y"}}}""", "mcpServers.A is named twice")]
    [InlineData("""{"mcpServers": {"a": "x"}}""", "mcpServers.a must be an object")]
    [InlineData("""{"mcpServers": {"a": {"args": []}}}""", "mcpServers.a needs either \"command\"")]
    [InlineData("""{"mcpServers": {"a": {"command": 1}}}""", "mcpServers.a.command must be a string")]
    [InlineData("""{"mcpServers": {"a": {"command": ""}}}""", "mcpServers.a.command is empty")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "network": "yes"}}}""", "mcpServers.a.network must be true or false")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}}""", "mcpServers.a.env.K must be a string")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "env": {"A=B": "c"}}}}""", "mcpServers.a.env.A=B is not a valid name or value")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "cwd": "../up"}}}""", "mcpServers.a.cwd must be a directory inside the workspace")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "readOnlyPaths": ["rel"]}}}""", "mcpServers.a.readOnlyPaths must hold absolute paths")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "headers": {}}}}""", "mcpServers.a.headers is not a known key")]
    [InlineData("""{"mcpServers": {"a": {"command": "x", "type": "http"}}}""", "mcpServers.a.type must be \"stdio\"")]
    [InlineData("""{"mcpServers": {"a": {"url": "http://h/", "type": "sse"}}}""", "mcpServers.a.type must be \"http\"")]
    [InlineData("""{"mcpServers": {"a": {"url": "ftp://h/"}}}""", "mcpServers.a.url must be an absolute http:// or https:// URL")]
    [InlineData("""{"mcpServers": {"a": {"url": "http://h/", "headers": {"X": "a\nb"}}}}""", "mcpServers.a.headers.X is not a valid name or value")]
    [InlineData("""{"mcpServers": {"a": {"url": "http://h/", "env": {}}}}""", "mcpServers.a.env is not a known key")]
    public void Anything_else_is_an_error_naming_the_file_and_field(string json, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => McpConfigFile.Parse(json, "/etc/tern/mcp.json"));
        Assert.StartsWith("--mcp-config /etc/tern/mcp.json: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var e = Assert.Throws<ArgumentException>(() => McpConfigFile.Load("/nonexistent/mcp.json"));
        Assert.StartsWith("--mcp-config /nonexistent/mcp.json: cannot read it", e.Message, StringComparison.Ordinal);
    }
}
