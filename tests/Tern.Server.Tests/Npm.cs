using System.Diagnostics;

namespace Tern.Server.Tests;

/// <summary>
/// tests/Tern.Server.Tests/npm: the npm packages the tests drive (`openai`, `@anthropic-ai/sdk`, `ajv`, `playwright-core`, `@modelcontextprotocol/sdk`), installed from its
/// package-lock.json with `npm ci` on first use, once for all test classes.
/// </summary>
internal static class Npm
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    /// <summary>The folder in the repository (the build stamps the repository root).</summary>
    public static string Folder { get; } = Path.Combine(
        typeof(Npm).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "TernRepoRoot")?.Value ?? ".",
        "tests", "Tern.Server.Tests", "npm");

    public static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            string[] packages = ["openai", "playwright-core", "@anthropic-ai/sdk", "ajv", "@modelcontextprotocol/sdk"];
            if (packages.All(p => Directory.Exists(Path.Combine(Folder, "node_modules", p))))
                return;
            var (code, output, errors) = await RunAsync("npm", "ci --no-audit --no-fund");
            Assert.True(code == 0, $"npm ci failed: {output}{errors}");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>
    /// Installs the packages, runs <c>node</c> with <paramref name="arguments"/> (a script of the folder and its
    /// arguments), checks that it succeeded and returns the last line it printed, which the scripts write as JSON.
    /// </summary>
    public static async Task<System.Text.Json.JsonElement> NodeAsync(string arguments)
    {
        await EnsureInstalledAsync();
        var (code, output, errors) = await RunAsync("node", arguments);
        Assert.True(code == 0, $"node {arguments} failed: {output}{errors}");
        return System.Text.Json.JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement.Clone();
    }

    /// <summary>Runs a program in the folder; its exit code and what it printed.</summary>
    public static async Task<(int Code, string Output, string Errors)> RunAsync(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { WorkingDirectory = Folder, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await stdout, await stderr);
    }
}
