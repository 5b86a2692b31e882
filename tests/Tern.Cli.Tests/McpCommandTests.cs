using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Tern.Tools;

namespace Tern.Cli.Tests;

/// <summary>`tern mcp`: the built tern binary as a stdio MCP server, driven by the official .NET MCP client.</summary>
public sealed class McpCommandTests
{
    private static readonly string Tern = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "tern.exe" : "tern");

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_official_client_lists_and_calls_the_tools_inside_the_workspace_and_each_call_is_audited()
    {
        using var workspace = new TempDirectory();
        using var logs = new TempDirectory();
        string audit = logs.File("audit.jsonl");
        var stderr = new ConcurrentQueue<string>();
        await using (var client = await ConnectAsync(stderr, "--workspace", workspace.FullPath, "--audit-log", audit))
        {
            var listed = await client.ListToolsAsync(cancellationToken: Cancellation);
            Assert.Equal(ToolSet.KnownTools, listed.Select(t => t.Name));
            Assert.All(listed, t => Assert.Equal("object", t.ProtocolTool.InputSchema.GetProperty("type").GetString()));

            var written = await client.CallToolAsync("write_file", Args(("path", "src/hello.txt"), ("content", "hello over stdio\n")), cancellationToken: Cancellation);
            Assert.NotEqual(true, written.IsError);
            Assert.Equal("hello over stdio\n", File.ReadAllText(workspace.File("src/hello.txt")));

            var read = await client.CallToolAsync("read_file", Args(("path", "src/hello.txt")), cancellationToken: Cancellation);
            Assert.NotEqual(true, read.IsError);
            Assert.Contains("hello over stdio", Text(read));

            var shell = await client.CallToolAsync("shell", Args(("command", "cat src/hello.txt; cat /etc/shadow; touch /usr/pwned-by-tern-mcp")), cancellationToken: Cancellation);
            Assert.Contains("hello over stdio", Text(shell));
            Assert.DoesNotContain("root:", Text(shell));
            Assert.False(File.Exists("/usr/pwned-by-tern-mcp"));

            var outside = await client.CallToolAsync("read_file", Args(("path", "/etc/shadow")), cancellationToken: Cancellation);
            Assert.True(outside.IsError, Text(outside));
            var escape = await client.CallToolAsync("write_file", Args(("path", "../escaped.txt"), ("content", "x")), cancellationToken: Cancellation);
            Assert.True(escape.IsError, Text(escape));
            Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(workspace.FullPath)!, "escaped.txt")));
        }

        var lines = await AuditLinesAsync(audit, count: 5);
        Assert.All(lines, l => Assert.StartsWith("mcp-", l.GetProperty("request_id").GetString(), StringComparison.Ordinal));
        Assert.Equal(["write_file", "read_file", "shell", "read_file", "write_file"], lines.Select(l => l.GetProperty("tool").GetString()));
        Assert.Equal(["ok", "ok", "ok", "error", "error"], lines.Select(l => l.GetProperty("outcome").GetString()));
        Assert.Contains(stderr, l => l.StartsWith("tools: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_tools_flag_narrows_the_set()
    {
        using var workspace = new TempDirectory();
        await using var client = await ConnectAsync(new ConcurrentQueue<string>(), "--workspace", workspace.FullPath, "--tools", "read_file,time");
        var listed = await client.ListToolsAsync(cancellationToken: Cancellation);
        Assert.Equal(["read_file", "time"], listed.Select(t => t.Name));

        var shell = await client.CallToolAsync("shell", Args(("command", "touch made-by-shell")), cancellationToken: Cancellation);
        Assert.True(shell.IsError);
        Assert.False(File.Exists(workspace.File("made-by-shell")));
    }

    /// <summary>Stdout is the protocol: every line the process writes there is a JSON-RPC message; it ends when stdin closes.</summary>
    [Fact]
    public async Task Stdout_carries_only_json_rpc_and_the_server_exits_when_stdin_closes()
    {
        using var workspace = new TempDirectory();
        var start = new ProcessStartInfo(Tern) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "mcp", "--workspace", workspace.FullPath })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync(Cancellation);
        string[] requests =
        [
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""",
            """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
            """{"jsonrpc":"2.0","id":2,"method":"tools/list"}""",
            """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/etc/passwd"}}}""",
        ];
        foreach (string request in requests)
            await process.StandardInput.WriteLineAsync(request.AsMemory(), Cancellation);
        await process.StandardInput.FlushAsync(Cancellation);

        // The three answers, line by line (the server drops requests still running when stdin closes), then the rest.
        var lines = new List<string>();
        while (lines.Count < 3 && await process.StandardOutput.ReadLineAsync(Cancellation) is { } line)
            lines.Add(line);
        process.StandardInput.Close();
        lines.AddRange((await process.StandardOutput.ReadToEndAsync(Cancellation)).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        await process.WaitForExitAsync(Cancellation);

        Assert.Equal(0, process.ExitCode);
        var messages = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(messages, m => Assert.Equal("2.0", m.GetProperty("jsonrpc").GetString()));
        Assert.Equal([1, 2, 3], messages.Select(m => m.GetProperty("id").GetInt32()));
        var call = messages[2].GetProperty("result");
        Assert.True(call.GetProperty("isError").GetBoolean());
        Assert.DoesNotContain("root:", call.GetRawText());
        Assert.Contains("mcp: serving the tools on stdin/stdout", await errors);
    }

    [Theory]
    [InlineData("--tools", "rm_rf", "unknown tool 'rm_rf'")]
    [InlineData("--tool-timeout", "0", "--tool-timeout must be between 1 and 60")]
    [InlineData("--workspace-quota", "lots", "--workspace-quota must be a positive size")]
    public void Bad_flags_are_one_line_errors(string flag, string value, string message)
    {
        var (exitCode, stdout, stderr) = CliRunner.Run("mcp", flag, value);
        Assert.Equal(1, exitCode);
        Assert.Equal("", stdout);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    private static Task<McpClient> ConnectAsync(ConcurrentQueue<string> stderr, params string[] flags) =>
        McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "tern",
            Command = Tern,
            Arguments = ["mcp", .. flags],
            StandardErrorLines = stderr.Enqueue,
        }), cancellationToken: Cancellation);

    private static Dictionary<string, object?> Args(params (string Name, object? Value)[] arguments) =>
        arguments.ToDictionary(a => a.Name, a => a.Value);

    private static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    /// <summary>The audit log's lines once it has <paramref name="count"/> (the server writes them in the background; a hang guard, not a timing).</summary>
    private static async Task<List<JsonElement>> AuditLinesAsync(string path, int count)
    {
        for (int i = 0; i < 200 && (!File.Exists(path) || File.ReadAllLines(path).Length < count); i++)
            await Task.Delay(50, Cancellation);
        return File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }
}
