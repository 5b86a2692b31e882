using System.Net.Http.Json;
using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>`tern serve -ctk/-ctv`: the engine's KV cache in Q8_0 or Q4_0, shown in /props and the start-up log.</summary>
public sealed class KvCacheTypeTests
{
    [Fact]
    public async Task A_quantized_kv_cache_serves_completions_and_takes_less_memory()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new ServerOptions { ModelPath = SharedData.Path("models/llama-tiny-q8_0.gguf"), Port = 0, Parallel = 2, ContextPerSequence = 256 };
        long f16Bytes = await PropsAsync(options, ct, (_, props) => props.GetProperty("kv_cache_bytes").GetInt64());

        var log = new StringWriter();
        await using var server = await TernServer.StartAsync(options with { CacheTypeK = "q8_0", CacheTypeV = "q4_0" }, log, ct);
        await server.WaitUntilReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        var props = JsonDocument.Parse(await http.GetStringAsync("/props", ct)).RootElement;
        Assert.Equal("q8_0/q4_0", props.GetProperty("kv_cache_types").GetString());
        // Per element: F16 2 bytes; Q8_0 34/32; Q4_0 18/32.
        Assert.Equal(f16Bytes * (34 + 18) / (2 * 64), props.GetProperty("kv_cache_bytes").GetInt64());
        Assert.Contains("KV cache q8_0/q4_0", log.ToString());

        var response = await http.PostAsJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 8, temperature = 0 }, ct);
        Assert.Equal(200, (int)response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct)).RootElement;
        Assert.Equal(8, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task A_model_whose_heads_are_not_whole_blocks_fails_to_load_saying_why()
    {
        var ct = TestContext.Current.CancellationToken;
        var log = new StringWriter();
        // stories260K has heads of 8 elements; Q8_0 blocks hold 32.
        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = SharedData.Path("models/stories260K.gguf"), Port = 0, CacheTypeK = "q8_0" }, log, ct);
        await Assert.ThrowsAnyAsync<Exception>(server.WaitUntilReadyAsync);
        Assert.Contains("head size", log.ToString());
    }

    private static async Task<T> PropsAsync<T>(ServerOptions options, CancellationToken ct, Func<TernServer, JsonElement, T> read)
    {
        await using var server = await TernServer.StartAsync(options, TextWriter.Null, ct);
        await server.WaitUntilReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        return read(server, JsonDocument.Parse(await http.GetStringAsync("/props", ct)).RootElement);
    }
}
