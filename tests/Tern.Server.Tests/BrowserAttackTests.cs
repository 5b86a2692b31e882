using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>
/// Tern with tools on and no key, and on another port an attacker's web server serving npm/attack.html. Tern lists
/// the page's origin under its name http://localhost:PORT, so the page at http://127.0.0.1:PORT is a foreign origin
/// and the same page at localhost is an allowed one.
/// </summary>
public sealed class BrowserAttackFixture : ServerFixture
{
    private WebApplication _pages = null!;

    internal TempDirectory Workspace { get; } = new();

    public int PagePort { get; private set; }

    protected override ServerOptions Options => base.Options with
    {
        Tools = "write_file",
        Workspace = Workspace.FullPath,
        AllowedOrigins = [$"http://localhost:{PagePort}"],
    };

    public override async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _pages = builder.Build();
        string html = await File.ReadAllTextAsync(Path.Combine(Npm.Folder, "attack.html"));
        _pages.MapGet("/", () => Results.Content(html, "text/html"));
        await _pages.StartAsync();
        PagePort = new Uri(_pages.Urls.First()).Port;
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await _pages.DisposeAsync();
        await base.DisposeAsync();
        Workspace.Dispose();
    }
}

/// <summary>
/// A real page in Debian's chromium (driven by playwright-core) on another port than Tern's tries to run write_file
/// through POST /tools/call, with the requests a browser lets any page send (text/plain, form, multipart: no CORS
/// preflight) and with JSON (preflight). The server's own answers are read from the browser's network events.
/// </summary>
public sealed class BrowserAttackTests(BrowserAttackFixture fixture) : IClassFixture<BrowserAttackFixture>
{
    [Fact]
    public async Task A_page_on_another_origin_cannot_run_tools()
    {
        var page = await VisitAsync("127.0.0.1", "foreign");

        Assert.Empty(Directory.GetFiles(fixture.Workspace.FullPath, "foreign-*"));
        var statuses = Statuses(page);
        Assert.True(statuses.Count(s => s == 403) == 3, $"three simple POSTs answered 403 by Tern: {page}");
        Assert.DoesNotContain(200, statuses);
        Assert.StartsWith("error:", page.GetProperty("attack").GetProperty("json").GetString()); // the preflight was refused
    }

    [Fact]
    public async Task A_listed_origin_can_call_tools_with_json_only()
    {
        var page = await VisitAsync("localhost", "listed");

        Assert.False(File.Exists(fixture.Workspace.File("listed-text-plain.txt")));
        Assert.False(File.Exists(fixture.Workspace.File("listed-form.txt")));
        Assert.False(File.Exists(fixture.Workspace.File("listed-multipart.txt")));
        var statuses = Statuses(page);
        Assert.True(statuses.Count(s => s == 415) == 3, $"three simple POSTs answered 415 by Tern: {page}");
        // The same page does reach the tool with JSON from a listed origin: the attempts above were live.
        Assert.StartsWith("200", page.GetProperty("attack").GetProperty("json").GetString());
        Assert.Equal("pwned", File.ReadAllText(fixture.Workspace.File("listed-json.txt")));
    }

    /// <summary>Opens the attacker's page under <paramref name="host"/> and returns what node printed for it.</summary>
    private async Task<JsonElement> VisitAsync(string host, string tag)
    {
        await Npm.EnsureInstalledAsync();
        string tern = fixture.Server.Address;
        string page = $"http://{host}:{fixture.PagePort}/?tern={Uri.EscapeDataString(tern)}&tag={tag}";
        var (code, output, errors) = await Npm.RunAsync("node", $"browser-attack.mjs {tern} \"{page}\"");
        Assert.True(code == 0, $"browser-attack.mjs failed: {output}{errors}");
        return JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement[0].Clone();
    }

    /// <summary>The statuses Tern answered to the page's POSTs, as the browser received them.</summary>
    private static List<int> Statuses(JsonElement page) =>
        page.GetProperty("requests").EnumerateArray()
            .Where(r => r.GetProperty("method").GetString() == "POST" && r.TryGetProperty("status", out _))
            .Select(r => r.GetProperty("status").GetInt32()).ToList();
}
