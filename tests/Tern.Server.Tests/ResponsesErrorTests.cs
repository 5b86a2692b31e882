using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>Malformed POST /v1/responses requests: each gets a 4xx in OpenAI's error shape, naming the parameter.</summary>
public sealed class ResponsesErrorTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string Tool = """{"type": "function", "name": "f", "parameters": {"type": "object"}}""";

    public static TheoryData<string, string?> Malformed() => new()
    {
        { """{"model": "stories"}""", "input" },
        { """{"input": 5}""", "input" },
        { """{"input": []}""", "input" },
        { """{"input": [1]}""", "input[0]" },
        { """{"input": [{"type": "web_search_call", "id": "ws_1"}]}""", "input[0].type" },
        { """{"input": [{"type": "item_reference", "id": "msg_1"}]}""", "input[0].type" },
        { """{"input": [{"role": "tool", "content": "x"}]}""", "input[0].role" },
        { """{"input": [{"role": "user"}]}""", "input[0].content" },
        { """{"input": [{"role": "user", "content": 7}]}""", "input[0].content" },
        { """{"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://x/y.png"}]}]}""", "input[0].content[0].type" },
        { """{"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]}""", "input[0].content[0].type" },
        { """{"input": [{"role": "user", "content": [{"type": "input_text"}]}]}""", "input[0].content[0].text" },
        { """{"input": [{"role": "user", "content": "x", "name": "bob"}]}""", "input[0].name" },
        { """{"input": [{"type": "function_call_output", "call_id": "call_9", "output": "x"}]}""", "input[0].call_id" },
        { """{"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{not json"}]}""", "input[0].arguments" },
        { """{"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]}""", "input[0].name" },
        { """{"input": [{"type": "reasoning", "id": "rs_1"}]}""", "input[0].summary" },
        { """{"input": "x", "store": true}""", "store" },
        { """{"input": "x", "previous_response_id": "resp_123"}""", "previous_response_id" },
        { """{"input": "x", "background": true}""", "background" },
        { """{"input": "x", "truncation": "auto"}""", "truncation" },
        { """{"input": "x", "frobnicate": 1}""", "frobnicate" },
        { """{"input": "x", "max_tokens": 5}""", "max_tokens" },
        { """{"input": "x", "conversation": "conv_1"}""", "conversation" },
        { """{"input": "x", "instructions": 5}""", "instructions" },
        { """{"input": "x", "stream": "yes"}""", "stream" },
        { """{"input": "x", "temperature": "hot"}""", "temperature" },
        { """{"input": "x", "temperature": 3}""", "temperature" },
        { """{"input": "x", "top_p": 0}""", "top_p" },
        { """{"input": "x", "max_output_tokens": 0}""", "max_output_tokens" },
        { """{"input": "x", "max_output_tokens": 1.5}""", "max_output_tokens" },
        { """{"input": "x", "metadata": [1]}""", "metadata" },
        { """{"input": "x", "user": 5}""", "user" },
        { """{"input": "x", "include": ["message.output_text.logprobs"]}""", "include[0]" },
        { """{"input": "x", "stream_options": {"include_usage": true}}""", "stream_options.include_usage" },
        { """{"input": "x", "tools": {}}""", "tools" },
        { """{"input": "x", "tools": [{"type": "web_search"}]}""", "tools[0].type" },
        { """{"input": "x", "tools": [{"type": "function"}]}""", "tools[0].name" },
        { """{"input": "x", "tools": [{"type": "function", "name": "f", "parameters": "none"}]}""", "tools[0].parameters" },
        { """{"input": "x", "tools": [{"type": "function", "name": "f", "strict": true}]}""", "tools" },
        { """{"input": "x", "tools": [{"type": "function", "name": "f", "cache": 1}]}""", "tools[0].cache" },
        { $$"""{"input": "x", "tools": [{{Tool}}], "tool_choice": "sometimes"}""", "tool_choice" },
        { """{"input": "x", "tool_choice": "required"}""", "tool_choice" },
        { """{"input": "x", "tools": [""" + Tool + """], "tool_choice": {"type": "function", "name": "g"}}""", "tool_choice.name" },
        { """{"input": "x", "text": "json"}""", "text" },
        { """{"input": "x", "text": {"format": {"type": "xml"}}}""", "text.format.type" },
        { """{"input": "x", "text": {"format": {"type": "json_schema", "name": "s"}}}""", "text.format.schema" },
        { """{"input": "x", "text": {"format": {"type": "json_schema", "name": "bad name!", "schema": {}}}}""", "text.format.name" },
        { """{"input": "x", "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object", "not": {}}, "strict": true}}}""", "text.format.schema" },
        { """{"input": "x", "reasoning": {"effort": "max"}}""", "reasoning.effort" },
        { """{"input": "x", "reasoning": {"budget": 5}}""", "reasoning.budget" },
        { """{"input": "x", "reasoning": true}""", "reasoning" },
        { """{"input": "x",""", null },
        { """["input"]""", null },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_request_gets_a_400_naming_the_parameter(string json, string? param)
    {
        var (status, body, _) = await fixture.PostAsync("/v1/responses", json);

        Assert.True(status == 400, $"{status}: {body}");
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(JsonValueKind.String, error.GetProperty("code").ValueKind);
        if (param is null)
            Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        else
            Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_prompt_over_the_context_gets_a_400_naming_input_even_when_streaming(bool stream)
    {
        string input = JsonSerializer.Serialize(string.Concat(Enumerable.Repeat("The little girl walked in the park and saw a big red ball. ", 400)));
        var (status, body, response) = await fixture.PostAsync("/v1/responses", $$"""{"input": {{input}}, "stream": {{(stream ? "true" : "false")}}}""");

        Assert.Equal(400, status);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("context_length_exceeded", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("input", body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task An_oversized_body_gets_a_413()
    {
        string big = $$"""{"input": "{{new string('a', 9 << 20)}}"}""";
        var (status, body, _) = await fixture.PostAsync("/v1/responses", big);

        Assert.Equal(413, status);
        Assert.Equal("request_too_large", body.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task The_fields_accepted_for_compatibility_do_not_change_the_answer()
    {
        var (status, body, _) = await fixture.PostAsync("/responses", """
            {"input": "Once upon a time", "max_output_tokens": 4, "store": false, "truncation": "disabled", "user": "u", "service_tier": "auto",
             "metadata": {"a": "b"}, "include": ["reasoning.encrypted_content"], "stream_options": {"include_obfuscation": false}, "prompt_cache_key": "k",
             "safety_identifier": "s", "top_logprobs": null, "conversation": null, "text": {"format": {"type": "text"}, "verbosity": "low"}, "reasoning": {"effort": "low", "summary": "auto"}}
            """);

        Assert.True(status == 200, body.ToString());
        Assert.Equal("incomplete", body.GetProperty("status").GetString());
    }
}

public sealed class ResponsesKeyTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>
{
    [Theory]
    [InlineData(null, "missing API key")]
    [InlineData("wrong", "invalid API key")]
    public async Task A_missing_or_wrong_key_gets_a_401(string? key, string message)
    {
        var (status, body, _) = await fixture.PostAsync("/v1/responses", """{"input": "Hi", "max_output_tokens": 2}""", key);

        Assert.Equal(401, status);
        Assert.Equal("invalid_api_key", body.GetProperty("error").GetProperty("code").GetString());
        Assert.StartsWith(message, body.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(200, (await fixture.PostAsync("/v1/responses", """{"input": "Hi", "max_output_tokens": 2}""", "sekrit")).Status);
    }
}
