using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

public sealed class EndpointTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Health_models_and_props_describe_the_served_model()
    {
        Assert.Equal(200, (await fixture.GetAsync("/health")).Status);
        var models = JsonDocument.Parse((await fixture.GetAsync("/v1/models")).Text).RootElement;
        Assert.Equal("stories", models.GetProperty("data")[0].GetProperty("id").GetString());
        var props = JsonDocument.Parse((await fixture.GetAsync("/props")).Text).RootElement;
        Assert.Equal(2048, props.GetProperty("n_ctx").GetInt32());
        Assert.Equal(8, props.GetProperty("total_slots").GetInt32());
        Assert.True(props.GetProperty("chat_template_is_default").GetBoolean());
        Assert.Equal(0.8, props.GetProperty("default_generation_settings").GetProperty("temperature").GetDouble(), 3);
        Assert.Contains("KV cache", fixture.Log.ToString());
    }

    [Fact]
    public async Task Tokenize_and_detokenize_round_trip()
    {
        var (_, tokens, _) = await fixture.PostAsync("/tokenize", """{"content": "Once upon a time"}""");
        var ids = tokens.GetProperty("tokens");
        Assert.True(ids.GetArrayLength() > 2);
        var (_, text, _) = await fixture.PostAsync("/detokenize", JsonSerializer.Serialize(new { tokens = ids }));
        Assert.Equal("Once upon a time", text.GetProperty("content").GetString());
    }

    [Fact]
    public async Task Metrics_and_slots_report_the_engine()
    {
        await fixture.PostAsync("/v1/completions", """{"prompt": "Once", "max_tokens": 2}""");
        var (status, metrics) = await fixture.GetAsync("/metrics");
        Assert.Equal(200, status);
        foreach (string name in new[] { "tern_requests_total", "tern_prompt_tokens_total", "tern_generated_tokens_total", "tern_generated_tokens_per_second",
                     "tern_queue_depth", "tern_kv_blocks_used", "tern_kv_blocks_cached", "tern_prefix_cache_hits_total" })
            Assert.Contains($"\n{name} ", "\n" + metrics);
        var slots = JsonDocument.Parse((await fixture.GetAsync("/slots")).Text).RootElement;
        Assert.Equal(JsonValueKind.Array, slots.ValueKind);
    }
}

/// <summary>A server whose one sequence has room for 30,000 tokens: a stream the test opens is still generating, by minutes, when the test looks.</summary>
public sealed class LongStreamServerFixture : ServerFixture
{
    protected override ServerOptions Options => base.Options with { Parallel = 1, ContextPerSequence = 32768 };
}

public sealed class DisconnectTests(LongStreamServerFixture fixture) : IClassFixture<LongStreamServerFixture>
{
    [Fact]
    public async Task A_client_that_disconnects_frees_its_sequence()
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent("""{"prompt": "Once upon a time", "max_tokens": 30000, "stream": true, "logit_bias": {"2": -100}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        var response = await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        var stream = await response.Content.ReadAsStreamAsync(cancel.Token);
        await stream.ReadExactlyAsync(new byte[16], cancel.Token); // it is generating
        Assert.Contains("tern_active_sequences 1", (await fixture.GetAsync("/metrics")).Text);
        response.Dispose();
        cancel.Cancel();

        await fixture.WaitUntilIdleAsync();
        string metrics = (await fixture.GetAsync("/metrics")).Text;
        Assert.Contains("tern_active_sequences 0", metrics);
    }
}
