using System.Reflection;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace Tern.Server;

/// <summary>
/// The web chat: GET / is the page, GET /webchat/NAME its stylesheet and scripts. The files are embedded in this
/// assembly (WebChat/), so a tool install or a single-file publish carries them. They hold no secrets, so they are
/// served before the API key check (a middleware ahead of it); the page sends the key the user types with every API
/// call. Every answer carries a strict Content-Security-Policy: only this server's own scripts and styles run, and
/// the page may talk only to this server. With --tools, the Host check of <see cref="RequestGuard"/> still applies.
/// </summary>
internal static class WebChatRoutes
{
    public const string ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        + "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private const string AssetPrefix = "/webchat/";

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);

    private static readonly Dictionary<string, Asset> Assets = Load();

    /// <summary>Answers GET (and HEAD) / and /webchat/*; passes every other request on.</summary>
    public static Task ServeAsync(HttpContext http, RequestDelegate next)
    {
        var request = http.Request;
        string path = request.Path.Value ?? "";
        if (!(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)) || !(path == "/" || path.StartsWith(AssetPrefix, StringComparison.Ordinal)))
            return next(http);
        string name = path == "/" ? "index.html" : path[AssetPrefix.Length..];
        if (name == "index.html" && path != "/" || !Assets.TryGetValue(name, out var asset))
            throw new ApiException(404, $"no web chat file {path}", code: "not_found");
        return WriteAsync(http, asset);
    }

    private static async Task WriteAsync(HttpContext http, Asset asset)
    {
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache"; // revalidated by ETag, so a new Tern's page is seen at once
        headers.ETag = asset.ETag;
        if (http.Request.Headers.IfNoneMatch.ToString().Split(',').Any(tag => tag.Trim() is var t && (t == asset.ETag || t == "*")))
        {
            http.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        http.Response.ContentType = asset.ContentType;
        http.Response.ContentLength = asset.Bytes.Length;
        if (!HttpMethods.IsHead(http.Request.Method))
            await http.Response.Body.WriteAsync(asset.Bytes, http.RequestAborted);
    }

    /// <summary>The embedded WebChat/ files (logical names "WebChat/NAME", set in the project file).</summary>
    private static Dictionary<string, Asset> Load()
    {
        var assembly = typeof(WebChatRoutes).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (string resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("WebChat/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            byte[] bytes = copy.ToArray();
            string name = resource["WebChat/".Length..];
            string etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..16] + "\"";
            assets[name] = new Asset(bytes, ContentType(name), etag);
        }

        return assets;
    }

    private static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => throw new InvalidOperationException($"web chat file {name} has no content type"),
    };
}
