using System.Text;
using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>stories260K behind a key (sent as x-api-key, as Anthropic's clients do) and a 64 KiB body limit.</summary>
public sealed class MessagesServerFixture : ServerFixture
{
    public const string Key = "sekrit";

    protected override ServerOptions Options => base.Options with { ApiKey = Key, MaxBodyBytes = 64 << 10 };

    /// <summary>POSTs <paramref name="json"/> with the key as x-api-key and Anthropic's version header.</summary>
    public async Task<(int Status, JsonElement Body, string Text)> MessagesAsync(string json, string path = "/v1/messages", string? key = Key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key is not null)
            request.Headers.Add("x-api-key", key);
        request.Headers.Add("anthropic-version", "2023-06-01");
        request.Headers.Add("anthropic-beta", "token-counting-2024-11-01");
        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var body = text.TrimStart().StartsWith('{') ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return ((int)response.StatusCode, body, text);
    }
}

/// <summary>POST /v1/messages and /v1/messages/count_tokens over raw HTTP: shapes, stop reasons, usage, streaming events, errors.</summary>
public sealed class MessagesApiTests(MessagesServerFixture fixture) : IClassFixture<MessagesServerFixture>
{
    private const string Hello = """{"model": "stories", "messages": [{"role": "user", "content": "Once upon a time"}]""";

    [Fact]
    public async Task A_message_has_Anthropics_shape_and_stops_at_max_tokens()
    {
        var (status, body, text) = await fixture.MessagesAsync(Hello + """, "max_tokens": 8, "temperature": 0}""");

        Assert.True(status == 200, text);
        Assert.StartsWith("msg_", body.GetProperty("id").GetString());
        Assert.Equal("message", body.GetProperty("type").GetString());
        Assert.Equal("assistant", body.GetProperty("role").GetString());
        Assert.Equal("stories", body.GetProperty("model").GetString());
        var block = Assert.Single(body.GetProperty("content").EnumerateArray());
        Assert.Equal("text", block.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(block.GetProperty("text").GetString()));
        Assert.Equal("max_tokens", body.GetProperty("stop_reason").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("stop_sequence").ValueKind);
        var usage = body.GetProperty("usage");
        Assert.Equal(8, usage.GetProperty("output_tokens").GetInt32());
        Assert.True(usage.GetProperty("input_tokens").GetInt32() + usage.GetProperty("cache_read_input_tokens").GetInt32() > 4);
    }

    [Fact]
    public async Task A_stop_sequence_ends_the_message_and_is_named()
    {
        var (_, first, _) = await fixture.MessagesAsync(Hello + """, "max_tokens": 24, "temperature": 0}""");
        string text = first.GetProperty("content")[0].GetProperty("text").GetString()!;
        string word = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(2).First(w => w.All(char.IsLetter));

        var (status, body, raw) = await fixture.MessagesAsync(Hello + $$""", "max_tokens": 24, "temperature": 0, "stop_sequences": ["{{word}}"]}""");

        Assert.True(status == 200, raw);
        Assert.Equal("stop_sequence", body.GetProperty("stop_reason").GetString());
        Assert.Equal(word, body.GetProperty("stop_sequence").GetString());
        Assert.DoesNotContain(word, body.GetProperty("content")[0].GetProperty("text").GetString());

        var events = await MessagesSse.EventsAsync(fixture, Hello + $$""", "max_tokens": 24, "temperature": 0, "stream": true, "stop_sequences": ["{{word}}"]}""", MessagesServerFixture.Key);
        var delta = events.Single(e => e.GetProperty("type").GetString() == "message_delta").GetProperty("delta");
        Assert.Equal("stop_sequence", delta.GetProperty("stop_reason").GetString());
        Assert.Equal(word, delta.GetProperty("stop_sequence").GetString());
    }

    [Fact]
    public async Task Count_tokens_is_the_prompts_size_and_a_repeated_prompt_reads_the_prefix_cache()
    {
        const string Prompt = """{"model": "stories", "system": [{"type": "text", "text": "A story for a child."}], "messages": [{"role": "user", "content": [{"type": "text", "text": "The cat sat on the mat and"}]}]""";
        var (countStatus, count, countText) = await fixture.MessagesAsync(Prompt + "}", "/v1/messages/count_tokens");
        Assert.True(countStatus == 200, countText);
        int tokens = count.GetProperty("input_tokens").GetInt32();

        await fixture.MessagesAsync(Prompt + """, "max_tokens": 2}""");
        var (status, body, text) = await fixture.MessagesAsync(Prompt + """, "max_tokens": 2}""");

        Assert.True(status == 200, text);
        var usage = body.GetProperty("usage");
        Assert.True(usage.GetProperty("cache_read_input_tokens").GetInt32() > 0, text);
        Assert.Equal(tokens, usage.GetProperty("input_tokens").GetInt32() + usage.GetProperty("cache_read_input_tokens").GetInt32());
    }

    [Fact]
    public async Task A_streamed_message_sends_Anthropics_events_in_order()
    {
        var (status, _, text) = await fixture.MessagesAsync(Hello + """, "max_tokens": 6, "stream": true}""");

        Assert.Equal(200, status);
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e =>
        {
            var lines = e.Split('\n');
            Assert.StartsWith("event: ", lines[0]);
            Assert.StartsWith("data: ", lines[1]);
            var data = JsonDocument.Parse(lines[1]["data: ".Length..]).RootElement.Clone();
            Assert.Equal(lines[0]["event: ".Length..], data.GetProperty("type").GetString());
            return data;
        }).ToList();
        string[] types = [.. events.Select(e => e.GetProperty("type").GetString()!).Distinct()];
        Assert.Equal(["message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"], types);
        Assert.StartsWith("msg_", events[0].GetProperty("message").GetProperty("id").GetString());
        Assert.Equal(0, events[0].GetProperty("message").GetProperty("content").GetArrayLength());
        string streamed = string.Concat(events.Where(e => e.GetProperty("type").GetString() == "content_block_delta")
            .Select(e => e.GetProperty("delta")).Select(d => { Assert.Equal("text_delta", d.GetProperty("type").GetString()); return d.GetProperty("text").GetString(); }));
        Assert.False(string.IsNullOrEmpty(streamed));
        var delta = events.Single(e => e.GetProperty("type").GetString() == "message_delta");
        Assert.Equal("max_tokens", delta.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.Equal(6, delta.GetProperty("usage").GetProperty("output_tokens").GetInt32());
    }

    public static TheoryData<string, string, string> Malformed() => new()
    {
        { "missing max_tokens", """{"model": "m", "messages": [{"role": "user", "content": "hi"}]}""", "max_tokens" },
        { "max_tokens a string", """{"model": "m", "max_tokens": "8", "messages": [{"role": "user", "content": "hi"}]}""", "max_tokens" },
        { "max_tokens zero", """{"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}""", "max_tokens" },
        { "missing messages", """{"model": "m", "max_tokens": 8}""", "messages" },
        { "messages an object", """{"model": "m", "max_tokens": 8, "messages": {"role": "user"}}""", "messages" },
        { "empty messages", """{"model": "m", "max_tokens": 8, "messages": []}""", "messages" },
        { "system role", """{"model": "m", "max_tokens": 8, "messages": [{"role": "system", "content": "hi"}]}""", "messages[0].role" },
        { "role a number", """{"model": "m", "max_tokens": 8, "messages": [{"role": 1, "content": "hi"}]}""", "messages[0].role" },
        { "content a number", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": 5}]}""", "messages[0].content" },
        { "block without type", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [{"text": "hi"}]}]}""", "messages[0].content[0]" },
        { "image block", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}""", "messages[0].content[0].type" },
        { "text block without text", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "text"}]}]}""", "messages[0].content[0].text" },
        { "tool_use input a string", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": "{}"}]}, {"role": "user", "content": "go"}]}""", "messages[1].content[0].input" },
        { "tool_result for no tool_use", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "x"}]}]}""", "messages[0].content[0].tool_use_id" },
        { "unknown block field", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "colour": "red"}]}]}""", "messages[0].content[0].colour" },
        { "prefill", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hel"}]}""", "messages[1].role" },
        { "unknown field", """{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], "frequency_penalty": 1}""", "frequency_penalty" },
        { "temperature above 1", """{"model": "m", "max_tokens": 8, "temperature": 1.5, "messages": [{"role": "user", "content": "hi"}]}""", "temperature" },
        { "top_k negative", """{"model": "m", "max_tokens": 8, "top_k": -1, "messages": [{"role": "user", "content": "hi"}]}""", "top_k" },
        { "stop_sequences a string", """{"model": "m", "max_tokens": 8, "stop_sequences": "END", "messages": [{"role": "user", "content": "hi"}]}""", "stop_sequences" },
        { "system a number", """{"model": "m", "max_tokens": 8, "system": 3, "messages": [{"role": "user", "content": "hi"}]}""", "system" },
        { "tool without input_schema", """{"model": "m", "max_tokens": 8, "tools": [{"name": "f"}], "messages": [{"role": "user", "content": "hi"}]}""", "tools[0].input_schema" },
        { "server tool", """{"model": "m", "max_tokens": 8, "tools": [{"type": "web_search_20250305", "name": "web_search"}], "messages": [{"role": "user", "content": "hi"}]}""", "tools[0].type" },
        { "tool_choice any without tools", """{"model": "m", "max_tokens": 8, "tool_choice": {"type": "any"}, "messages": [{"role": "user", "content": "hi"}]}""", "tool_choice" },
        { "tool_choice tool without a name", """{"model": "m", "max_tokens": 8, "tool_choice": {"type": "tool"}, "tools": [{"name": "f", "input_schema": {"type": "object"}}], "messages": [{"role": "user", "content": "hi"}]}""", "tool_choice.name" },
        { "tool_choice tool naming no tool", """{"model": "m", "max_tokens": 8, "tool_choice": {"type": "tool", "name": "g"}, "tools": [{"name": "f", "input_schema": {"type": "object"}}], "messages": [{"role": "user", "content": "hi"}]}""", "tool_choice" },
        { "tool_choice unknown", """{"model": "m", "max_tokens": 8, "tool_choice": {"type": "sometimes"}, "messages": [{"role": "user", "content": "hi"}]}""", "tool_choice.type" },
        { "thinking without budget", """{"model": "m", "max_tokens": 8, "thinking": {"type": "enabled"}, "messages": [{"role": "user", "content": "hi"}]}""", "thinking.budget_tokens" },
        { "thinking budget over max_tokens", """{"model": "m", "max_tokens": 8, "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "hi"}]}""", "thinking.budget_tokens" },
        { "thinking type unknown", """{"model": "m", "max_tokens": 8, "thinking": {"type": "maybe"}, "messages": [{"role": "user", "content": "hi"}]}""", "thinking.type" },
        { "stream a string", """{"model": "m", "max_tokens": 8, "stream": "yes", "messages": [{"role": "user", "content": "hi"}]}""", "stream" },
        { "metadata a string", """{"model": "m", "max_tokens": 8, "metadata": "x", "messages": [{"role": "user", "content": "hi"}]}""", "metadata" },
        { "model a number", """{"model": 4, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}""", "model" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_request_gets_a_400_in_Anthropics_error_shape_naming_the_field(string why, string json, string field)
    {
        var (status, body, text) = await fixture.MessagesAsync(json);

        Assert.True(status == 400, $"{why}: {status} {text}");
        AssertAnthropicError(body, "invalid_request_error", text);
        Assert.Contains($"'{field}'", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Count_tokens_refuses_generation_fields_and_bad_input_in_Anthropics_shape()
    {
        var (status, body, text) = await fixture.MessagesAsync("""{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}""", "/v1/messages/count_tokens");
        Assert.Equal(400, status);
        AssertAnthropicError(body, "invalid_request_error", text);
        Assert.Contains("'max_tokens'", body.GetProperty("error").GetProperty("message").GetString());
        (status, body, text) = await fixture.MessagesAsync("""{"model": "m"}""", "/v1/messages/count_tokens");
        Assert.Equal(400, status);
        Assert.Contains("'messages'", body.GetProperty("error").GetProperty("message").GetString());
    }

    public static TheoryData<string, string, int, string> BadRequests() => new()
    {
        { "invalid JSON", """{"model": "m", "max_tokens": 8, "messages": [""", 400, "invalid_request_error" },
        { "not an object", """[1, 2]""", 400, "invalid_request_error" },
        { "oversized body", "{\"model\": \"m\", \"max_tokens\": 8, \"messages\": [{\"role\": \"user\", \"content\": \"" + new string('a', 70_000) + "\"}]}", 413, "request_too_large" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Unreadable_bodies_get_Anthropics_error_shape(string why, string json, int expected, string type)
    {
        var (status, body, text) = await fixture.MessagesAsync(json);

        Assert.True(status == expected, $"{why}: {status} {text}");
        AssertAnthropicError(body, type, text);
    }

    [Fact]
    public async Task The_key_is_taken_as_x_api_key_and_a_wrong_one_gets_Anthropics_401()
    {
        const string Request = """{"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}""";
        var (wrong, body, text) = await fixture.MessagesAsync(Request, key: "wrong");
        Assert.Equal(401, wrong);
        AssertAnthropicError(body, "authentication_error", text);
        (wrong, body, text) = await fixture.MessagesAsync(Request, key: null);
        Assert.Equal(401, wrong);
        AssertAnthropicError(body, "authentication_error", text);

        Assert.Equal(200, (await fixture.MessagesAsync(Request)).Status);
        Assert.Equal(200, (await fixture.PostAsync("/v1/messages", Request, MessagesServerFixture.Key)).Status); // Authorization: Bearer too
        var (chat, chatBody, _) = await fixture.MessagesAsync(Request, "/v1/chat/completions"); // x-api-key on the OpenAI routes too
        Assert.True(chat == 200, chatBody.ToString());
        Assert.Equal("authentication_error", (await fixture.PostAsync("/v1/chat/completions", Request, "wrong")).Body.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task An_unknown_path_under_messages_gets_Anthropics_404()
    {
        var (status, body, text) = await fixture.MessagesAsync("{}", "/v1/messages/batches");

        Assert.Equal(404, status);
        AssertAnthropicError(body, "not_found_error", text);
    }

    private static void AssertAnthropicError(JsonElement body, string type, string text)
    {
        Assert.True(body.ValueKind == JsonValueKind.Object, text);
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal(type, body.GetProperty("error").GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("error").GetProperty("message").GetString()));
    }
}
