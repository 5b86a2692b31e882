using System.Diagnostics;
using System.Text.Json;

namespace Tern.Cli.Tests;

/// <summary>`tern serve`'s log flags: --log-format, --log-file, -v.</summary>
public sealed class ServeLogTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData("text")]
    [InlineData("json")]
    public void Log_format_takes_text_or_json(string name) => Assert.Equal(name, ServeCommand.ParseLogFormat(name));

    [Fact]
    public void A_bad_log_format_stops_serve_with_a_clear_error()
    {
        var (exitCode, _, stderr) = CliRunner.Run("serve", "--log-format", "yaml");

        Assert.Equal(1, exitCode);
        Assert.Contains("--log-format must be text or json, got 'yaml'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_appends_json_lines_to_the_log_file_and_verbose_adds_debug_messages()
    {
        var cancel = TestContext.Current.CancellationToken;
        string file = Path.Combine(Path.GetTempPath(), $"tern-serve-log-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(file, "{\"earlier\":true}\n");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "tern.dll"), "serve", "--port", "0", "--log-format", "json", "--log-file", file, "-v" },
        };
        using var server = Process.Start(start)!;
        try
        {
            string address = await ServeSecretTests.ListeningAddressAsync(server).WaitAsync(Bound, cancel);
            using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = Bound };
            await http.GetAsync("/v1/models", cancel);

            List<JsonElement> lines = [];
            for (int i = 0; i < 400 && !lines.Any(l => l.TryGetProperty("Category", out var c) && c.GetString() == "Tern.Request"); i++)
            {
                await Task.Delay(25, cancel);
                lines = File.ReadAllLines(file).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
            }

            Assert.True(lines[0].GetProperty("earlier").GetBoolean()); // appended, not overwritten
            Assert.Contains(lines, l => l.TryGetProperty("Message", out var m) && m.GetString() == $"listening on {address}");
            var request = Assert.Single(lines, l => l.TryGetProperty("Category", out var c) && c.GetString() == "Tern.Request");
            Assert.Equal("/v1/models", request.GetProperty("State").GetProperty("Route").GetString());
            Assert.Contains(lines, l => l.TryGetProperty("LogLevel", out var level) && level.GetString() == "Debug"); // -v: ASP.NET Core's debug messages
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync(CancellationToken.None).WaitAsync(Bound, CancellationToken.None);
            File.Delete(file);
        }
    }
}
