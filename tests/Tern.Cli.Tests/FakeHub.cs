using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Tern.Cli.Tests;

/// <summary>
/// A Hugging Face-compatible hub on loopback: `/api/models/REPO/tree/main` lists the files (LFS ones with
/// `lfs.oid` = SHA-256), `/REPO/resolve/main/FILE` redirects to `/cdn/FILE` (with X-Linked-Etag), which serves
/// the bytes and honours `Range: bytes=N-`. Knobs: a required token, a connection cut after N bytes (once),
/// a wrong SHA-256 reported.
/// </summary>
internal sealed class FakeHub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, string> _files;
    private int _cuts;
    private int _requests;

    public string Repo { get; }
    public string Endpoint { get; }
    public string? RequiredToken { get; init; }
    public long CutAfterBytes { get; init; } = -1;
    public bool ReportWrongSha { get; init; }
    public List<string?> RangesSeen { get; } = [];

    /// <summary>Requests answered so far, of any kind.</summary>
    public int Requests => _requests;

    /// <param name="files">file name in the repository → local file served for it</param>
    public FakeHub(string repo, Dictionary<string, string> files)
    {
        Repo = repo;
        _files = files;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.Use(next => c =>
        {
            Interlocked.Increment(ref _requests);
            return next(c);
        });
        _app.MapGet("/api/models/{owner}/{name}/tree/main", (HttpContext c, string owner, string name) => Tree(c, $"{owner}/{name}"));
        _app.MapGet("/{owner}/{name}/resolve/main/{file}", (HttpContext c, string owner, string name, string file) => Resolve(c, $"{owner}/{name}", file));
        _app.MapGet("/cdn/{file}", (HttpContext c, string file) => ServeAsync(c, file));
        _app.StartAsync().GetAwaiter().GetResult();
        Endpoint = _app.Urls.First();
    }

    public static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private string ReportedSha(string path) => ReportWrongSha ? new string('0', 64) : Sha256(path);

    private bool Authorized(HttpContext c) => RequiredToken is null || c.Request.Headers.Authorization == $"Bearer {RequiredToken}";

    private IResult Tree(HttpContext c, string repo)
    {
        if (!Authorized(c))
            return Results.Json(new { error = "Invalid credentials" }, statusCode: 401);
        if (repo != Repo)
            return Results.Json(new { error = "Repository not found" }, statusCode: 404);
        var entries = _files.Select(f => (object)new
        {
            type = "file", oid = "0123456789abcdef0123456789abcdef01234567", size = new FileInfo(f.Value).Length, path = f.Key,
            lfs = new { oid = ReportedSha(f.Value), size = new FileInfo(f.Value).Length, pointerSize = 135 },
        }).Append(new { type = "file", oid = "89abcdef0123456789abcdef0123456789abcdef", size = 5L, path = "README.md" });
        return Results.Json(entries);
    }

    private IResult Resolve(HttpContext c, string repo, string file)
    {
        if (!Authorized(c))
            return Results.Json(new { error = "Invalid credentials" }, statusCode: 401);
        if (repo != Repo || !_files.TryGetValue(file, out var local))
            return Results.Json(new { error = "Entry not found" }, statusCode: 404);
        c.Response.Headers["X-Linked-Etag"] = $"\"{ReportedSha(local)}\"";
        c.Response.Headers["X-Linked-Size"] = new FileInfo(local).Length.ToString();
        return Results.Redirect($"/cdn/{file}");
    }

    private async Task ServeAsync(HttpContext c, string file)
    {
        byte[] bytes = await File.ReadAllBytesAsync(_files[file]);
        string? range = c.Request.Headers.Range.FirstOrDefault();
        RangesSeen.Add(range);
        long start = 0;
        if (range is not null)
        {
            start = long.Parse(range["bytes=".Length..].TrimEnd('-'));
            c.Response.StatusCode = 206;
            c.Response.Headers.ContentRange = $"bytes {start}-{bytes.Length - 1}/{bytes.Length}";
        }
        c.Response.ContentLength = bytes.Length - start;
        if (CutAfterBytes >= 0 && Interlocked.Increment(ref _cuts) == 1)
        {
            await c.Response.Body.WriteAsync(bytes.AsMemory((int)start, (int)CutAfterBytes));
            await c.Response.Body.FlushAsync();
            await Task.Delay(100);
            c.Abort();
            return;
        }
        await c.Response.Body.WriteAsync(bytes.AsMemory((int)start));
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
