using System.Diagnostics;
using System.IO.Compression;

namespace Tern.Cli.Tests;

/// <summary>`dotnet pack src/Tern.Cli` makes a .NET tool package that installs and runs, with managed code only (no native libraries).</summary>
public sealed class ToolPackageTests
{
    [Fact]
    public async Task The_tool_package_installs_and_runs()
    {
        using var dir = new TempDirectory();
        string project = SharedData.Repository("src/Tern.Cli/Tern.Cli.csproj");
        await Dotnet($"pack \"{project}\" -c Release --no-build -o \"{dir.File("packages")}\"");
        string package = Assert.Single(Directory.GetFiles(dir.File("packages"), "tern.*.nupkg"));

        using (var zip = ZipFile.OpenRead(package))
        {
            Assert.DoesNotContain(zip.Entries, e => e.FullName.Contains("/runtimes/", StringComparison.Ordinal)
                || e.Name.EndsWith(".so", StringComparison.Ordinal) || e.Name.EndsWith(".dylib", StringComparison.Ordinal));
            long unpacked = zip.Entries.Sum(e => e.Length);
            Assert.True(unpacked < 16L << 20, $"{unpacked / (1 << 20)} MiB unpacked");
        }

        await Dotnet($"tool install --tool-path \"{dir.File("tools")}\" --add-source \"{dir.File("packages")}\" tern");
        var run = await Start(dir.File("tools/tern"), "run -p \"Once upon a time\" -n 4 --seed 1");
        Assert.True(run.Code == 0, run.Errors);
        Assert.Contains("generation: 4 tokens", run.Errors);
    }

    private static async Task Dotnet(string arguments)
    {
        var result = await Start("dotnet", arguments);
        Assert.True(result.Code == 0, $"dotnet {arguments}: {result.Output}{result.Errors}");
    }

    private static async Task<(int Code, string Output, string Errors)> Start(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var errors = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await output, await errors);
    }
}
