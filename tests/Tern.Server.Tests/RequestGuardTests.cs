using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>A server with tools on, no key, one extra Host name and one extra browser origin allowed.</summary>
public sealed class GuardedToolServerFixture : ServerFixture
{
    internal TempDirectory Workspace { get; } = new();

    protected override ServerOptions Options => base.Options with
    {
        Tools = "write_file,time",
        Workspace = Workspace.FullPath,
        AllowedHosts = ["tern.test"],
        AllowedOrigins = ["http://localhost:3000"],
    };
}

/// <summary>
/// With tools on, web pages cannot reach them: POSTs must be JSON (415), the Host must name this server (403, against
/// DNS rebinding) and a cross-origin Origin must be listed (403). Each refused call is a write_file whose file must
/// not appear.
/// </summary>
public sealed class RequestGuardTests(GuardedToolServerFixture fixture) : IClassFixture<GuardedToolServerFixture>
{
    private int Port => new Uri(fixture.Server.Address).Port;

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("")]
    public async Task Posts_that_are_not_json_are_refused_before_the_tool_runs(string contentType)
    {
        string marker = NewMarker();
        var content = new StringContent(WriteCall(marker));
        content.Headers.ContentType = contentType.Length == 0 ? null : MediaTypeHeaderValue.Parse(contentType);
        var (status, error) = await SendAsync(HttpMethod.Post, "/tools/call", content);
        Assert.Equal(415, status);
        Assert.Equal("unsupported_media_type", error.GetProperty("code").GetString());
        Assert.Contains("application/json", error.GetProperty("message").GetString());
        Assert.False(File.Exists(fixture.Workspace.File(marker)));
    }

    [Theory]
    [InlineData("http://evil.example")]
    [InlineData("null")]
    [InlineData("http://127.0.0.1:1")]
    [InlineData("http://localhost:3001")]
    public async Task A_foreign_origin_is_refused(string origin)
    {
        string marker = NewMarker();
        var (status, error) = await SendAsync(HttpMethod.Post, "/tools/call", Json(WriteCall(marker)), origin: origin);
        Assert.Equal(403, status);
        Assert.Equal("origin_not_allowed", error.GetProperty("code").GetString());
        Assert.Contains(origin, error.GetProperty("message").GetString());
        Assert.False(File.Exists(fixture.Workspace.File(marker)));
    }

    [Theory]
    [InlineData("POST", "/tools/call")]
    [InlineData("GET", "/tools")]
    [InlineData("POST", "/v1/chat/completions")]
    [InlineData("POST", "/v1/completions")]
    [InlineData("GET", "/v1/models")]
    public async Task A_host_that_is_not_this_server_is_refused_on_every_route(string method, string path)
    {
        string marker = NewMarker();
        string body = path == "/tools/call" ? WriteCall(marker) : """{"prompt": "Once", "messages": [{"role": "user", "content": "Once"}], "max_tokens": 1}""";
        var (status, error) = await SendAsync(new HttpMethod(method), path, method == "POST" ? Json(body) : null, host: $"rebind.example:{Port}");
        Assert.Equal(403, status);
        Assert.Equal("host_not_allowed", error.GetProperty("code").GetString());
        Assert.Contains("rebind.example", error.GetProperty("message").GetString());
        Assert.False(File.Exists(fixture.Workspace.File(marker)));
    }

    [Fact]
    public async Task A_same_origin_json_call_runs_the_tool()
    {
        string marker = NewMarker();
        var (status, body) = await SendAsync(HttpMethod.Post, "/tools/call", Json(WriteCall(marker)), origin: fixture.Server.Address);
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("ok").GetBoolean(), body.ToString());
        Assert.Equal("pwned", File.ReadAllText(fixture.Workspace.File(marker)));
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("localhost:{port}")]
    [InlineData("LOCALHOST:{port}")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.2:{port}")]
    [InlineData("[::1]:{port}")]
    [InlineData("tern.test:{port}")]
    public async Task Loopback_names_and_allowed_hosts_are_accepted(string host)
    {
        var (status, _) = await SendAsync(HttpMethod.Get, "/tools", host: host.Replace("{port}", Port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task An_allowed_origin_may_call_the_tools_and_gets_cors_answers()
    {
        string marker = NewMarker();
        var (status, body) = await SendAsync(HttpMethod.Post, "/tools/call", Json(WriteCall(marker)), host: $"tern.test:{Port}", origin: "http://localhost:3000");
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("ok").GetBoolean(), body.ToString());
        Assert.True(File.Exists(fixture.Workspace.File(marker)));
        using var refused = new HttpRequestMessage(HttpMethod.Post, "/tools/call") { Content = Json("""{"name": "rm_rf"}""") };
        refused.Headers.Add("Origin", "http://localhost:3000");
        var error = await fixture.Http.SendAsync(refused, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Equal("http://localhost:3000", error.Headers.GetValues("Access-Control-Allow-Origin").Single()); // the page can read why

        using var allowed = Preflight("http://localhost:3000");
        var answer = await fixture.Http.SendAsync(allowed, TestContext.Current.CancellationToken);
        Assert.True(answer.IsSuccessStatusCode, answer.StatusCode.ToString());
        Assert.Equal("http://localhost:3000", answer.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var anthropic = Preflight("http://localhost:3000", "content-type,x-api-key,anthropic-version,anthropic-dangerous-direct-browser-access");
        answer = await fixture.Http.SendAsync(anthropic, TestContext.Current.CancellationToken);
        Assert.True(answer.IsSuccessStatusCode, answer.StatusCode.ToString()); // Anthropic's browser client may call /v1/messages
        Assert.Contains("x-api-key", string.Join(",", answer.Headers.GetValues("Access-Control-Allow-Headers")), StringComparison.OrdinalIgnoreCase);

        using var foreign = Preflight("http://evil.example");
        answer = await fixture.Http.SendAsync(foreign, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Forbidden, answer.StatusCode);
        Assert.False(answer.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public void Tools_without_an_api_key_warn_at_start()
    {
        Assert.Contains("WARNING: --tools without --api-key", fixture.Log.ToString());
    }

    /// <summary>On 0.0.0.0 the machine's own addresses are its names (the test still connects over loopback only).</summary>
    [Fact]
    public async Task On_a_wildcard_address_the_machines_own_addresses_are_accepted_and_a_keyed_server_does_not_warn()
    {
        var log = new StringWriter();
        var options = new ServerOptions { ModelPath = SharedData.Path("models/stories260K.gguf"), Host = "0.0.0.0", Port = 0, Tools = "time", ApiKey = "k" };
        await using var server = await TernServer.StartAsync(options, log, TestContext.Current.CancellationToken);
        int port = new Uri(server.Address).Port;
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var own = NetworkInterface.GetAllNetworkInterfaces().SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(a => a.Address)
            .FirstOrDefault(a => !IPAddress.IsLoopback(a) && a.AddressFamily == AddressFamily.InterNetwork) ?? IPAddress.Loopback;

        async Task<HttpStatusCode> ToolsAsync(string host)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/tools");
            request.Headers.Host = host;
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "k");
            return (await http.SendAsync(request, TestContext.Current.CancellationToken)).StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await ToolsAsync($"{own}:{port}"));
        Assert.Equal(HttpStatusCode.Forbidden, await ToolsAsync($"rebind.example:{port}"));
        Assert.Equal(HttpStatusCode.Forbidden, await ToolsAsync("192.0.2.254"));
        Assert.DoesNotContain("WARNING: --tools without --api-key", log.ToString());
    }

    [Theory]
    [InlineData("--allowed-origins", "localhost:3000")]
    [InlineData("--allowed-origins", "http://localhost:3000/app")]
    [InlineData("--allowed-origins", "file:///etc")]
    [InlineData("--allowed-hosts", "http://tern.lan")]
    [InlineData("--allowed-hosts", " ")]
    public async Task A_malformed_allowed_origin_or_host_is_a_clear_error(string flag, string value)
    {
        var options = new ServerOptions { ModelPath = SharedData.Path("models/stories260K.gguf"), Port = 0, Tools = "time" };
        options = flag == "--allowed-hosts" ? options with { AllowedHosts = [value] } : options with { AllowedOrigins = [value] };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => TernServer.StartAsync(options, TextWriter.Null, TestContext.Current.CancellationToken));
        Assert.Contains(flag, e.Message);
        Assert.Contains($"'{value}'", e.Message);
    }

    private static string NewMarker() => $"marker-{Guid.NewGuid():N}.txt";

    private static string WriteCall(string path) => JsonSerializer.Serialize(new { name = "write_file", arguments = new { path, content = "pwned" } });

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static HttpRequestMessage Preflight(string origin, string headers = "content-type")
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/tools/call");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return request;
    }

    private async Task<(int Status, JsonElement Body)> SendAsync(HttpMethod method, string path, HttpContent? content = null, string? host = null, string? origin = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (host is not null)
            request.Headers.Host = host;
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        using var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var body = JsonDocument.Parse(text).RootElement.Clone();
        return ((int)response.StatusCode, body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object ? error : body);
    }
}
