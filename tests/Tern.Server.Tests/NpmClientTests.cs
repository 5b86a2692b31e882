using System.Diagnostics;
using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>The official `openai` npm package (installed from tests/Tern.Server.Tests/npm on first use) talks to Tern.</summary>
public sealed class NpmClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly string Folder = NpmFolder();

    [Fact]
    public async Task The_openai_npm_package_streams_a_chat_completion_and_reads_usage()
    {
        if (!Directory.Exists(Path.Combine(Folder, "node_modules", "openai")))
        {
            var (installCode, installOutput, installErrors) = await RunAsync("npm", "ci --no-audit --no-fund", Folder);
            Assert.True(installCode == 0, $"npm ci failed: {installOutput}{installErrors}");
        }

        var (code, output, errors) = await RunAsync("node", $"stream-chat.mjs {fixture.Server.Address}/v1", Folder);
        Assert.True(code == 0, output + errors);
        var result = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        Assert.False(string.IsNullOrEmpty(result.GetProperty("text").GetString()));
        Assert.Equal("length", result.GetProperty("finish").GetString());
        Assert.Equal(16, result.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.True(result.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 4);
    }

    /// <summary>tests/Tern.Server.Tests/npm in the repository (the build stamps the repository root).</summary>
    private static string NpmFolder()
    {
        string? repo = typeof(NpmClientTests).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "TernRepoRoot")?.Value;
        return Path.Combine(repo ?? ".", "tests", "Tern.Server.Tests", "npm");
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(string file, string arguments, string directory)
    {
        var start = new ProcessStartInfo(file, arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await stdout, await stderr);
    }
}
