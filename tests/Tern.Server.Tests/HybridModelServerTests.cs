using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>The hybrid qwen35moe served: its recurrent state reported apart from the KV cache, and a prompt that
/// extends an earlier one resuming from a recurrent-state checkpoint.</summary>
public sealed class HybridModelServerTests(HybridModelServerTests.Fixture fixture) : IClassFixture<HybridModelServerTests.Fixture>
{
    public sealed class Fixture : ServerFixture
    {
        protected override ServerOptions Options => new()
        {
            ModelPath = SharedData.Path("models/qwen35moe-tiny-q8_0.gguf"),
            Port = 0,
            Parallel = 2,
            Alias = "hybrid",
        };
    }

    [Fact]
    public async Task Props_report_kv_and_recurrent_state_bytes_apart()
    {
        var props = JsonDocument.Parse((await fixture.GetAsync("/props")).Text).RootElement;
        Assert.True(props.GetProperty("kv_cache_bytes").GetInt64() > 0);
        // A slot per sequence and one per prefix-cache checkpoint (8 by default), 3 × (768 + 4,096) floats each.
        Assert.Equal((2 + 8) * 3 * (768 + 4096) * 4L, props.GetProperty("recurrent_state_bytes").GetInt64());
        Assert.Contains("recurrent state 0.6 MiB", fixture.Log.ToString());
    }

    [Fact]
    public async Task Fewer_checkpoints_reserve_less_recurrent_state_and_none_turn_resuming_off()
    {
        string story = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 20));
        await using var server = await TernServer.StartAsync(new ServerOptions
        {
            ModelPath = SharedData.Path("models/qwen35moe-tiny-q8_0.gguf"),
            Port = 0,
            Parallel = 2,
            RecurrentCheckpoints = 0,
        }, TextWriter.Null, TestContext.Current.CancellationToken);
        await server.WaitUntilReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        var props = JsonDocument.Parse(await http.GetStringAsync("/props", TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal(2 * 3 * (768 + 4096) * 4L, props.GetProperty("recurrent_state_bytes").GetInt64());
        JsonElement usage = default;
        foreach (string prompt in new[] { story, story + "And the fox ran away." })
        {
            var body = new StringContent(JsonSerializer.Serialize(new { prompt, max_tokens = 2, temperature = 0 }), System.Text.Encoding.UTF8, "application/json");
            var response = await http.PostAsync("/v1/completions", body, TestContext.Current.CancellationToken);
            usage = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("usage");
        }

        Assert.Equal(0, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
    }

    [Fact]
    public async Task A_longer_prompt_resumes_from_the_checkpoint_of_an_earlier_one()
    {
        string story = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 20));
        var (status, first, _) = await fixture.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = story, max_tokens = 4, temperature = 0 }));
        Assert.Equal(200, status);
        var (_, second, _) = await fixture.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = story + "And the fox ran away.", max_tokens = 4, temperature = 0 }));
        int promptTokens = second.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        int cached = second.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.True(cached > 0 && cached >= first.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() - 64, $"{cached} of {promptTokens} cached");
    }
}
