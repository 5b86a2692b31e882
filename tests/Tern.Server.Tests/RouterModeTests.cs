using System.ClientModel;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Tern.Server.Tests;

/// <summary>Router mode (tern serve --models-dir): many models in one server, picked by the request's <c>model</c>.</summary>
public sealed class RouterModeTests
{
    [Fact]
    public async Task Models_lists_every_gguf_of_the_directory_unloaded_and_health_is_ok_without_any_loaded()
    {
        await using var router = await RouterServer.StartAsync();

        var (status, body) = await router.GetAsync("/v1/models");

        Assert.Equal(200, status);
        var ids = body.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToArray();
        Assert.Equal(["broken", "llama", "qwen3", "stories"], ids);
        Assert.All(body.GetProperty("data").EnumerateArray(), m => Assert.Equal("model", m.GetProperty("object").GetString()));
        Assert.All((await router.StatesAsync()).Values, s => Assert.Equal("unloaded", s));
        Assert.Equal(200, (await router.GetAsync("/health")).Status);
        Assert.Equal("router", (await router.GetAsync("/props")).Body.GetProperty("role").GetString());
    }

    [Fact]
    public async Task A_request_loads_its_model_on_first_use_and_the_model_field_picks_the_model()
    {
        await using var router = await RouterServer.StartAsync();

        var (status, body) = await router.ChatAsync("qwen3");

        Assert.Equal(200, status);
        Assert.Equal("qwen3", body.GetProperty("model").GetString());
        var states = await router.StatesAsync();
        Assert.Equal("loaded", states["qwen3"]);
        Assert.Equal("unloaded", states["stories"]);

        (status, body) = await router.PostAsync("/v1/completions", """{"model": "stories", "prompt": "Once upon a time", "max_tokens": 3}""");
        Assert.Equal(200, status);
        Assert.Equal("stories", body.GetProperty("model").GetString());
        Assert.Equal("loaded", (await router.StatesAsync())["stories"]);

        // each model its own tokenizer: stories has 512 tokens, qwen3-tiny another vocabulary
        var stories = (await router.PostAsync("/tokenize", """{"model": "stories", "content": "Once upon a time"}""")).Body.GetProperty("tokens").GetRawText();
        var qwen = (await router.PostAsync("/tokenize", """{"model": "qwen3", "content": "Once upon a time"}""")).Body.GetProperty("tokens").GetRawText();
        Assert.NotEqual(stories, qwen);
        Assert.Equal("qwen3", (await router.GetAsync("/props?model=qwen3")).Body.GetProperty("model").GetString());
    }

    [Fact]
    public async Task An_unknown_model_is_a_404_naming_it_and_listing_the_available_ones_in_each_apis_shape()
    {
        await using var router = await RouterServer.StartAsync();

        var (status, body) = await router.ChatAsync("gpt-4o");

        Assert.Equal(404, status);
        var error = body.GetProperty("error");
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Contains("'gpt-4o'", error.GetProperty("message").GetString());
        Assert.Contains("qwen3", error.GetProperty("message").GetString());

        (status, body) = await router.PostAsync("/v1/messages", """{"model": "claude-x", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}""");
        Assert.Equal(404, status);
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal("not_found_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("'claude-x'", body.GetProperty("error").GetProperty("message").GetString());

        Assert.Equal(404, (await router.PostAsync("/v1/embeddings", """{"model": "nope", "input": "x"}""")).Status);
        Assert.Equal(404, (await router.GetAsync("/v1/models/nope")).Status);
    }

    [Fact]
    public async Task Without_a_model_field_the_only_loaded_model_answers_and_otherwise_it_is_a_400_naming_model()
    {
        await using var router = await RouterServer.StartAsync();

        var (status, body) = await router.ChatAsync(null);
        Assert.Equal(400, status);
        Assert.Equal("model", body.GetProperty("error").GetProperty("param").GetString());

        Assert.Equal(200, (await router.ChatAsync("stories")).Status);
        (status, body) = await router.ChatAsync(null);
        Assert.Equal(200, status);
        Assert.Equal("stories", body.GetProperty("model").GetString());

        Assert.Equal(200, (await router.ChatAsync("qwen3")).Status);
        Assert.Equal(400, (await router.ChatAsync(null)).Status);
        (status, body) = await router.GetAsync("/metrics");
        Assert.Equal(400, status);
        Assert.Equal("model", body.GetProperty("error").GetProperty("param").GetString());
        var metrics = await router.Http.GetStringAsync("/metrics?model=stories", TestContext.Current.CancellationToken);
        Assert.Matches(@"tern_generated_tokens_total [1-9]", metrics);
    }

    [Fact]
    public async Task With_models_max_1_the_second_model_unloads_the_least_recently_used_one()
    {
        await using var router = await RouterServer.StartAsync(o => o with { ModelsMax = 1 });

        Assert.Equal(200, (await router.ChatAsync("stories")).Status);
        Assert.Equal("loaded", (await router.StatesAsync())["stories"]);
        Assert.Equal(200, (await router.ChatAsync("qwen3")).Status);

        var states = await router.StatesAsync();
        Assert.Equal("unloaded", states["stories"]);
        Assert.Equal("loaded", states["qwen3"]);
        Assert.Equal(200, (await router.ChatAsync("stories")).Status); // and back
        Assert.Equal("unloaded", (await router.StatesAsync())["qwen3"]);
    }

    [Fact]
    public async Task A_model_bigger_than_the_memory_budget_is_refused_with_a_503_saying_why()
    {
        await using var router = await RouterServer.StartAsync(o => o with { MemoryBudgetBytes = 1 << 20 }); // stories260K alone is 1.1 MiB

        var (status, body) = await router.ChatAsync("stories");

        Assert.Equal(503, status);
        Assert.Equal("model_capacity", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("--memory-budget", body.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("unloaded", (await router.StatesAsync())["stories"]);
    }

    [Fact]
    public async Task A_memory_budget_that_holds_one_model_at_a_time_unloads_the_other_first()
    {
        long stories, qwen;
        await using (var measure = await RouterServer.StartAsync())
        {
            stories = await BytesAsync(measure, "stories");
            qwen = await BytesAsync(measure, "qwen3");
        }

        await using var router = await RouterServer.StartAsync(o => o with { MemoryBudgetBytes = Math.Max(stories, qwen) + (Math.Min(stories, qwen) / 2) });

        Assert.Equal(200, (await router.ChatAsync("stories")).Status);
        Assert.Equal(200, (await router.ChatAsync("qwen3")).Status);

        var states = await router.StatesAsync();
        Assert.Equal("unloaded", states["stories"]);
        Assert.Equal("loaded", states["qwen3"]);
    }

    /// <summary>What the router counts for a model: file + KV cache + recurrent state, as /props reports them.</summary>
    private static async Task<long> BytesAsync(RouterServer router, string model)
    {
        var props = (await router.GetAsync($"/props?model={model}")).Body;
        var file = new FileInfo(props.GetProperty("model_path").GetString()!);
        return ((FileInfo)(file.ResolveLinkTarget(returnFinalTarget: true) ?? file)).Length + props.GetProperty("kv_cache_bytes").GetInt64() + props.GetProperty("recurrent_state_bytes").GetInt64();
    }

    [Fact]
    public async Task A_corrupt_model_fails_with_its_reason_while_the_others_keep_serving_and_a_later_load_retries()
    {
        await using var router = await RouterServer.StartAsync();

        var (status, body) = await router.ChatAsync("broken");

        Assert.Equal(503, status);
        Assert.Equal("model_load_failed", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("'broken' failed to load", body.GetProperty("error").GetProperty("message").GetString());
        var broken = (await router.GetAsync("/models")).Body.GetProperty("data").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "broken").GetProperty("status");
        Assert.Equal("failed", broken.GetProperty("value").GetString());
        Assert.True(broken.GetProperty("failed").GetBoolean());
        Assert.False(string.IsNullOrEmpty(broken.GetProperty("error").GetString()));
        Assert.Equal(503, (await router.ChatAsync("broken")).Status); // requests do not retry on their own

        Assert.Equal(200, (await router.ChatAsync("stories")).Status);

        // fixed on disk: POST /models/load tries again
        string path = Path.Combine(router.Directory, "broken.gguf");
        File.Delete(path);
        File.CreateSymbolicLink(path, SharedData.Path("models/stories260K.gguf"));
        (status, body) = await router.PostAsync("/models/load", """{"model": "broken"}""");
        Assert.Equal(200, status);
        Assert.Equal("loaded", (await router.StatesAsync())["broken"]);
        Assert.Equal(200, (await router.ChatAsync("broken")).Status);
    }

    [Fact]
    public async Task Models_load_and_unload_change_the_state_and_name_unknown_models()
    {
        await using var router = await RouterServer.StartAsync();

        var (status, body) = await router.PostAsync("/models/load", """{"model": "llama"}""");
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("success").GetBoolean());
        Assert.Equal("loaded", (await router.StatesAsync())["llama"]);

        (status, _) = await router.PostAsync("/models/unload", """{"model": "llama"}""");
        Assert.Equal(200, status);
        Assert.Equal("unloaded", (await router.StatesAsync())["llama"]);

        (status, body) = await router.PostAsync("/models/load", """{"model": "missing"}""");
        Assert.Equal(404, status);
        Assert.Equal("model_not_found", body.GetProperty("error").GetProperty("code").GetString());
        (status, body) = await router.PostAsync("/models/unload", "{}");
        Assert.Equal(400, status);
        Assert.Equal("model", body.GetProperty("error").GetProperty("param").GetString());
        (status, body) = await router.PostAsync("/models/load", """{"model": "llama", "when": "now"}""");
        Assert.Equal(400, status);
        Assert.Equal("when", body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Models_load_and_unload_take_the_api_key_like_every_route()
    {
        await using var router = await RouterServer.StartAsync(o => o with { ApiKey = "sekrit" });

        var (status, body) = await router.PostAsync("/models/load", """{"model": "stories"}""");

        Assert.Equal(401, status);
        Assert.Equal("invalid_api_key", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(401, (await router.PostAsync("/models/unload", """{"model": "stories"}""")).Status);
        Assert.Equal(401, (await router.GetAsync("/models")).Status);
    }

    [Fact]
    public async Task A_stream_that_waits_for_a_load_sends_comment_lines_first_then_the_chunks()
    {
        await using var router = await RouterServer.StartAsync();
        using var content = new StringContent("""{"model": "qwen3", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": true}""", Encoding.UTF8, "application/json");

        var response = await router.Http.PostAsync("/v1/chat/completions", content, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Matches(@"^: loading qwen3(: [\d.]+ MiB mapped, repacked \d+/\d+ tensors)?\n\n", text);
        Assert.Contains("data: {", text);
        Assert.EndsWith("data: [DONE]\n\n", text);
    }

    [Fact]
    public async Task A_stream_whose_model_fails_to_load_ends_with_the_load_error_event()
    {
        await using var router = await RouterServer.StartAsync();
        using var content = new StringContent("""{"model": "broken", "messages": [{"role": "user", "content": "hi"}], "stream": true}""", Encoding.UTF8, "application/json");

        var response = await router.Http.PostAsync("/v1/chat/completions", content, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.StartsWith(": loading broken", text);
        var error = JsonDocument.Parse(text.Split("\n\n").Single(l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..]).RootElement.GetProperty("error");
        Assert.Equal("model_load_failed", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task The_official_OpenAI_dotnet_client_picks_models_by_name_and_streams_through_a_load()
    {
        await using var router = await RouterServer.StartAsync();
        var options = new OpenAIClientOptions { Endpoint = new Uri(router.Server.Address + "/v1") };

        var models = (await new OpenAI.Models.OpenAIModelClient(new ApiKeyCredential("unused"), options).GetModelsAsync(TestContext.Current.CancellationToken)).Value;
        Assert.Contains(models, m => m.Id == "qwen3");

        var stories = await new ChatClient("stories", new ApiKeyCredential("unused"), options)
            .CompleteChatAsync([new UserChatMessage("Once upon a time")], new ChatCompletionOptions { MaxOutputTokenCount = 4 }, TestContext.Current.CancellationToken);
        Assert.Equal("stories", stories.Value.Model);

        string? model = null;
        var finish = (ChatFinishReason?)null;
        await foreach (var update in new ChatClient("qwen3", new ApiKeyCredential("unused"), options)
            .CompleteChatStreamingAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 4 }, TestContext.Current.CancellationToken))
        {
            model ??= update.Model;
            finish ??= update.FinishReason;
        }

        Assert.Equal("qwen3", model);
        Assert.Equal(ChatFinishReason.Length, finish);
    }

    [Fact]
    public async Task The_official_openai_npm_client_streams_from_a_model_that_loads_first()
    {
        await using var router = await RouterServer.StartAsync();

        var result = await Npm.NodeAsync($"router-stream.mjs {router.Server.Address}/v1 qwen3");

        Assert.Equal("qwen3", result.GetProperty("model").GetString());
        Assert.Equal("length", result.GetProperty("finish").GetString());
        Assert.Equal(4, result.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Contains("qwen3", result.GetProperty("listed").EnumerateArray().Select(e => e.GetString()));
    }
}

/// <summary>The Messages and Responses streams wait for a load the same way: comment lines, then their own events.</summary>
public sealed class RouterStreamTests
{
    [Theory]
    [InlineData("/v1/messages", """{"model": "qwen3", "max_tokens": 3, "stream": true, "messages": [{"role": "user", "content": "hi"}]}""", "event: message_start", @"event: message_stop\n")]
    [InlineData("/v1/responses", """{"model": "qwen3", "max_output_tokens": 3, "stream": true, "input": "hi"}""", "event: response.created", @"event: response\.(completed|incomplete)\n")]
    public async Task A_stream_waiting_for_its_model_starts_with_comments_then_sends_its_apis_events(string path, string body, string first, string last)
    {
        await using var router = await RouterServer.StartAsync();
        using var content = new StringContent(body, Encoding.UTF8, "application/json");

        var response = await router.Http.PostAsync(path, content, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Matches(@"^: loading qwen3(: [\d.]+ MiB mapped, repacked \d+/\d+ tensors)?\n\n", text);
        Assert.Contains(first, text);
        Assert.Matches(last, text[text.IndexOf(first, StringComparison.Ordinal)..]);
        Assert.DoesNotContain("event: error", text);
    }
}
