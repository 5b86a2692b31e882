using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// Every request field works or is a 400 naming it: unknown fields, fields Tern cannot honour (store, modalities,
/// forced tool calls, suffix, best_of) and the few accepted and ignored ones (user, metadata...).
/// </summary>
public sealed class RequestFieldTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string Hi = """{"role": "user", "content": "hi"}""";

    [Theory]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "frobnicate": 1}""", "frobnicate", "unknown_parameter")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "functions": []}""", "functions", "unknown_parameter")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "echo": true}""", "echo", "unknown_parameter")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "store": true}""", "store", "invalid_value")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "modalities": ["text", "audio"]}""", "modalities", "invalid_value")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "reasoning_effort": "extreme"}""", "reasoning_effort", "invalid_value")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "tool_choice": "required"}""", "tool_choice", "invalid_value")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "tool_choice": {"type": "function", "function": {"name": "f"}}}""", "tool_choice", "invalid_value")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "tool_choice": {"type": "function"}}""", "tool_choice", "invalid_value")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "tool_choice": "sometimes"}""", "tool_choice", "invalid_value")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "parallel_tool_calls": "no"}""", "parallel_tool_calls", "invalid_type")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "cache_prompt": 1}""", "cache_prompt", "invalid_type")]
    [InlineData("/v1/chat/completions", """{"messages": [HI], "max_tokens": 1, "n": 2}""", "n", "invalid_value")]
    [InlineData("/v1/completions", """{"prompt": "Once", "max_tokens": 1, "messages": []}""", "messages", "unknown_parameter")]
    [InlineData("/v1/completions", """{"prompt": "Once", "max_tokens": 1, "suffix": "end"}""", "suffix", "invalid_value")]
    [InlineData("/v1/completions", """{"prompt": "Once", "max_tokens": 1, "best_of": 3}""", "best_of", "invalid_value")]
    [InlineData("/v1/completions", """{"prompt": "Once", "max_tokens": 1, "echo": true, "logprobs": 2}""", "echo", "invalid_value")]
    public async Task A_field_that_cannot_be_honoured_is_a_400_naming_it(string path, string body, string param, string code)
    {
        var (status, error, _) = await fixture.PostAsync(path, body.Replace("HI", Hi));

        Assert.Equal(400, status);
        Assert.Equal(param, error.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(param, error.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Fields_that_describe_the_caller_are_accepted_and_ignored()
    {
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions",
            $$"""{"messages": [{{Hi}}], "max_tokens": 2, "temperature": 0, "user": "u-1", "metadata": {"k": "v"}, "service_tier": "auto", "store": false, "modalities": ["text"], "cache_prompt": false}""");

        Assert.Equal(200, status);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
    }

    [Fact]
    public async Task Echo_writes_the_prompt_before_the_completion()
    {
        const string prompt = "Once upon a time";
        var (_, plain, _) = await fixture.PostAsync("/v1/completions", $$"""{"prompt": "{{prompt}}", "max_tokens": 6, "temperature": 0}""");
        var (status, echoed, _) = await fixture.PostAsync("/v1/completions", $$"""{"prompt": "{{prompt}}", "max_tokens": 6, "temperature": 0, "echo": true}""");

        Assert.Equal(200, status);
        string generated = plain.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.Equal(prompt + generated, echoed.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(plain.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), echoed.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Echo_streams_the_prompt_first()
    {
        const string prompt = "Once upon a time";
        var (_, plain, _) = await fixture.PostAsync("/v1/completions", $$"""{"prompt": "{{prompt}}", "max_tokens": 6, "temperature": 0}""");
        var (_, _, response) = await fixture.PostAsync("/v1/completions", $$"""{"prompt": "{{prompt}}", "max_tokens": 6, "temperature": 0, "echo": true, "stream": true}""");
        string sse = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        var texts = sse.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l[6..]).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()).ToList();
        Assert.Equal(prompt, texts[0]);
        Assert.Equal(prompt + plain.GetProperty("choices")[0].GetProperty("text").GetString(), string.Concat(texts));
    }

    [Fact]
    public async Task A_model_is_found_by_its_id()
    {
        var (status, text) = await fixture.GetAsync("/v1/models/stories");
        var (missing, error) = await fixture.GetAsync("/v1/models/org/other-model");

        Assert.Equal(200, status);
        var model = JsonDocument.Parse(text).RootElement;
        Assert.Equal("stories", model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal(404, missing);
        Assert.Equal("model_not_found", JsonDocument.Parse(error).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("org/other-model", error);
    }
}

/// <summary>Chat options the Qwen3.5 template shows: reasoning_effort and tool_choice "none".</summary>
public sealed class ChatOptionTemplateTests(Qwen35TemplateFixture fixture) : IClassFixture<Qwen35TemplateFixture>
{
    [Theory]
    [InlineData("none", false)]
    [InlineData("minimal", false)]
    [InlineData("low", true)]
    [InlineData("high", true)]
    public async Task Reasoning_effort_maps_onto_enable_thinking(string effort, bool thinking)
    {
        async Task<int> PromptTokens(string extra)
        {
            var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", $$"""{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1{{extra}}}""");
            Assert.Equal(200, status);
            return body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        }

        int viaKwargs = await PromptTokens($$""", "chat_template_kwargs": {"enable_thinking": {{(thinking ? "true" : "false")}}}""");
        int other = await PromptTokens($$""", "chat_template_kwargs": {"enable_thinking": {{(thinking ? "false" : "true")}}}""");
        int viaEffort = await PromptTokens($$""", "reasoning_effort": "{{effort}}" """);

        Assert.NotEqual(viaKwargs, other);
        Assert.Equal(viaKwargs, viaEffort);
    }

    /// <summary>tool_choice "none" offers no tool: the prompt is the one without tools.</summary>
    [Fact]
    public async Task Tool_choice_none_leaves_the_tools_out_of_the_prompt()
    {
        const string tools = """[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]""";
        var (_, without, _) = await fixture.PostAsync("/v1/chat/completions", $$"""{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}""");
        var (_, with, _) = await fixture.PostAsync("/v1/chat/completions", $$"""{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "tools": {{tools}}}""");
        var (status, none, _) = await fixture.PostAsync("/v1/chat/completions", $$"""{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "tools": {{tools}}, "tool_choice": "none"}""");

        Assert.Equal(200, status);
        int PromptTokens(JsonElement body) => body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.True(PromptTokens(with) > PromptTokens(without));
        Assert.Equal(PromptTokens(without), PromptTokens(none));
    }
}
