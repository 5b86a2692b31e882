using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// A temporary --models-dir holding links to three shared tiny models (stories, qwen3, llama) and a corrupt
/// `broken.gguf`, and a router-mode server over it on a free loopback port (one per test: they load and unload).
/// </summary>
public sealed class RouterServer : IAsyncDisposable
{
    private RouterServer(string directory, TernServer server, StringWriter log)
    {
        Directory = directory;
        Log = log;
        Server = server;
        Http = new HttpClient { BaseAddress = new Uri(server.Address) };
    }

    public string Directory { get; }
    public TernServer Server { get; }
    public HttpClient Http { get; }
    public StringWriter Log { get; }

    /// <summary>The models directory: stories260K, qwen3-tiny (Q4_K_M), llama-tiny (Q4_0) and a corrupt file.</summary>
    public static string CreateDirectory()
    {
        string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tern-router-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(dir);
        File.CreateSymbolicLink(System.IO.Path.Combine(dir, "stories.gguf"), SharedData.Path("models/stories260K.gguf"));
        File.CreateSymbolicLink(System.IO.Path.Combine(dir, "qwen3.gguf"), SharedData.Path("models/qwen3-tiny-q4_k_m.gguf"));
        File.CreateSymbolicLink(System.IO.Path.Combine(dir, "llama.gguf"), SharedData.Path("models/llama-tiny-q4_0.gguf"));
        File.WriteAllBytes(System.IO.Path.Combine(dir, "broken.gguf"), [.. "GGUF"u8, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
        return dir;
    }

    /// <summary>A server over a fresh models directory; <paramref name="options"/> adjusts the options (the list is set).</summary>
    public static async Task<RouterServer> StartAsync(Func<ServerOptions, ServerOptions>? options = null, Func<string, IReadOnlyList<ModelEntry>>? models = null)
    {
        string dir = CreateDirectory();
        var log = new StringWriter();
        var o = new ServerOptions { Port = 0, Parallel = 2, ContextPerSequence = 256, Models = models?.Invoke(dir) ?? ModelCatalog.FromDirectory(dir) };
        var server = await TernServer.StartAsync(options?.Invoke(o) ?? o, log);
        return new RouterServer(dir, server, log);
    }

    public async Task<(int Status, JsonElement Body)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        var response = await Http.PostAsync(path, content, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    public async Task<(int Status, JsonElement Body)> GetAsync(string path)
    {
        var response = await Http.GetAsync(path, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, text.TrimStart().StartsWith('{') || text.TrimStart().StartsWith('[') ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    public Task<(int Status, JsonElement Body)> ChatAsync(string? model, int maxTokens = 4)
    {
        string field = model is null ? "" : $"\"model\": \"{model}\", ";
        return PostAsync("/v1/chat/completions", $$"""{ {{field}}"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": {{maxTokens}}, "temperature": 0 }""");
    }

    /// <summary>Each model's state as GET /models shows it (status.value).</summary>
    public async Task<Dictionary<string, string>> StatesAsync()
    {
        var (status, body) = await GetAsync("/models");
        Assert.Equal(200, status);
        return body.GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!, m => m.GetProperty("status").GetProperty("value").GetString()!);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
