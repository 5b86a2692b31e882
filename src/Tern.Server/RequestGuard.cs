using System.Net;
using System.Net.NetworkInformation;
using Microsoft.AspNetCore.Http;

namespace Tern.Server;

/// <summary>
/// With --tools on, keeps web pages away from the server: every request (but /health) must name this server in its
/// Host (a DNS-rebinding page names its own domain: 403), must not come from another origin than the Host unless
/// --allowed-origins lists it (403), and every POST must be JSON (415): a cross-origin text/plain or form POST needs
/// no CORS preflight, so without this rule any page could run tools. Clients without an Origin (curl, SDKs) pass.
/// The rule covers every route, so new ones (/v1/responses, /mcp) are guarded as soon as they are mapped.
/// </summary>
internal sealed class RequestGuard
{
    private readonly IPAddress _listen;
    private readonly HashSet<string> _hosts;
    private readonly HashSet<string> _origins;

    /// <param name="allowedOrigins">Origins as <see cref="ParseOrigin"/> returns them.</param>
    public RequestGuard(IPAddress listen, IEnumerable<string> allowedHosts, IEnumerable<string> allowedOrigins)
    {
        _listen = listen;
        _hosts = new HashSet<string>(allowedHosts.Select(ParseHostName), StringComparer.OrdinalIgnoreCase) { "localhost" };
        _origins = new HashSet<string>(allowedOrigins, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>An --allowed-hosts entry without its port, or an error naming it.</summary>
    private static string ParseHostName(string host) =>
        host.Trim() is { Length: > 0 } name && !name.Contains('/') && new HostString(name).Host is { Length: > 0 } hostName
            ? hostName
            : throw new ArgumentException($"--allowed-hosts '{host}' is not a host name like tern.lan (no scheme or path)");

    /// <summary>An --allowed-origins entry as browsers send it (scheme://host[:port], no path), or an error naming it.</summary>
    public static string ParseOrigin(string origin) =>
        Uri.TryCreate(origin.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.PathAndQuery == "/" && uri.UserInfo.Length == 0
            ? uri.GetLeftPart(UriPartial.Authority)
            : throw new ArgumentException($"--allowed-origins '{origin}' is not an origin like http://localhost:3000 (scheme, host and port only)");

    public Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var request = http.Request;
        if (request.Path == "/health")
            return next(http);
        if (!IsAllowedHost(request.Host.Host))
            throw new ApiException(403, $"Host '{request.Host}' is not an address of this server (tools are on: only loopback names, "
                + "the listening address and --allowed-hosts are accepted, against DNS rebinding)", code: "host_not_allowed");
        string origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !IsSameOrigin(origin, request) && !_origins.Contains(Normalize(origin)))
            throw new ApiException(403, $"cross-origin request from Origin '{origin}' refused (tools are on); start the server with "
                + "--allowed-origins to allow a web page's origin", code: "origin_not_allowed");
        if (HttpMethods.IsPost(request.Method) && !request.HasJsonContentType())
            throw new ApiException(415, $"Content-Type must be application/json, not '{request.ContentType}' (tools are on; "
                + "with curl: -H 'Content-Type: application/json')", code: "unsupported_media_type");
        return next(http);
    }

    /// <summary>Loopback names and IPs, the listening IP (any of this machine's on a wildcard address), --allowed-hosts.</summary>
    private bool IsAllowedHost(string host)
    {
        if (host.Length == 0)
            return false;
        if (_hosts.Contains(host))
            return true;
        if (!IPAddress.TryParse(host.Trim('[', ']'), out var ip))
            return false;
        if (IPAddress.IsLoopback(ip) || ip.Equals(_listen))
            return true;
        return (_listen.Equals(IPAddress.Any) || _listen.Equals(IPAddress.IPv6Any))
            && NetworkInterface.GetAllNetworkInterfaces().Any(n => n.GetIPProperties().UnicastAddresses.Any(a => a.Address.Equals(ip)));
    }

    /// <summary>Whether the Origin's scheme, host and port are the request's own (a page served under this Host).</summary>
    private static bool IsSameOrigin(string origin, HttpRequest request)
    {
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri))
            return false;
        int port = request.Host.Port ?? (request.IsHttps ? 443 : 80);
        return uri.Scheme == request.Scheme && string.Equals(uri.Host, request.Host.Host, StringComparison.OrdinalIgnoreCase) && uri.Port == port;
    }

    private static string Normalize(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) ? uri.GetLeftPart(UriPartial.Authority) : origin;
}
