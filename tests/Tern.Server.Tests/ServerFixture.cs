using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>A real Kestrel server on a free loopback port, serving stories260K (a real TinyStories model).</summary>
public class ServerFixture : IAsyncLifetime
{
    public TernServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public StringWriter Log { get; } = new();

    protected virtual ServerOptions Options => new()
    {
        ModelPath = SharedData.Path("models/stories260K.gguf"),
        Port = 0,
        Parallel = 8,
        Alias = "stories",
    };

    public async ValueTask InitializeAsync()
    {
        Server = await TernServer.StartAsync(Options, Log);
        await Server.WaitUntilReadyAsync();
        Http = new HttpClient { BaseAddress = new Uri(Server.Address) };
    }

    public virtual async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Polls GET /metrics until no sequence is active (a hang guard for tests that cancel, not a timing).</summary>
    public async Task WaitUntilIdleAsync(string? key = null)
    {
        for (int i = 0; i < 400 && !(await GetAsync("/metrics", key)).Text.Contains("tern_active_sequences 0"); i++)
            await Task.Delay(25, TestContext.Current.CancellationToken);
    }

    public async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostAsync(string path, string json, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var body = text.Length > 0 && text.TrimStart().StartsWith('{') ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return ((int)response.StatusCode, body, response);
    }

    public async Task<(int Status, string Text)> GetAsync(string path, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }
}
