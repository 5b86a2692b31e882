using System.Text;
using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>Malformed and hostile requests get OpenAI-shaped errors with the right status, never a 5xx.</summary>
public sealed class ErrorTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    public static TheoryData<string, string, int, string?> BadRequests() => new()
    {
        { "/v1/chat/completions", "{not json", 400, null },
        { "/v1/chat/completions", "[1, 2]", 400, null },
        { "/v1/chat/completions", "", 400, null },
        { "/v1/chat/completions", "{}", 400, "messages" },
        { "/v1/chat/completions", """{"messages": "hi"}""", 400, "messages" },
        { "/v1/chat/completions", """{"messages": []}""", 400, "messages" },
        { "/v1/chat/completions", """{"messages": [{"content": "hi"}]}""", 400, "messages[0].role" },
        { "/v1/chat/completions", """{"messages": [{"role": "wizard", "content": "hi"}]}""", 400, "messages[0].role" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": 42}]}""", 400, "messages[0].content" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}""", 400, "messages[0].content[0].type" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}""", 400, "temperature" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "temperature": 7}""", 400, "temperature" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "top_p": 0}""", 400, "top_p" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}""", 400, "max_tokens" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e30}""", 400, "max_tokens" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "n": 3}""", 400, "n" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "stop": 5}""", 400, "stop" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"abc": 1}}""", 400, "logit_bias" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"5": 500}}""", 400, "logit_bias" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}""", 400, "stream" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 3}""", 400, "top_logprobs" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "seed": "x"}""", 400, "seed" },
        { "/v1/chat/completions", """{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]}""", 400, "messages[0].tool_calls[0].function.arguments" },
        { "/v1/completions", """{"prompt": 12}""", 400, "prompt" },
        { "/v1/completions", """{"max_tokens": 3}""", 400, "prompt" },
        { "/tokenize", """{"content": 3}""", 400, "content" },
        { "/detokenize", """{"tokens": [1, 99999999]}""", 400, "tokens" },
        { "/detokenize", """{"tokens": ["a"]}""", 400, "tokens" },
    };

    /// <summary>Strings whose \u escapes leave a lone surrogate, wherever a request carries text (these used to be 500s).</summary>
    public static TheoryData<string, string, string?> LoneSurrogates() => new()
    {
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi \ud800"}]}""", "messages[0].content" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": [{"type": "text", "text": "\udc00 there"}]}]}""", "messages[0].content[0].text" },
        { "/v1/chat/completions", """{"messages": [{"role": "\ud800"}]}""", "messages[0].role" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi", "name": "\udfff"}]}""", "messages[0].name" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi", "\ud800": 1}]}""", "messages[0]" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f\ud800"}}]}""", "tools[0].function.name" },
        { "/v1/chat/completions", """{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "\ud800", "arguments": "{}"}}]}]}""", "messages[0].tool_calls[0].function.name" },
        { "/v1/chat/completions", """{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{\"q\": \"\\ud800\"}"}}]}]}""", "messages[0].tool_calls[0].function.arguments.q" },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "stop": ["ok", "a\ud800b"]}""", "stop[1]" },
        { "/v1/completions", """{"prompt": "\ud800"}""", "prompt" },
        { "/v1/completions", """{"prompt": "Once", "stop": "\udbff"}""", "stop" },
        { "/v1/completions", """{"prompt": "Once", "logit_bias": {"\ud800": 1}}""", "logit_bias" },
        { "/v1/completions", """{"\ud800": 1, "prompt": "Once"}""", null },
        { "/tokenize", """{"content": "x\ud800"}""", "content" },
        { "/apply-template", """{"messages": [{"role": "user", "content": "\ud800\ud800"}]}""", "messages[0].content" },
    };

    [Theory]
    [MemberData(nameof(LoneSurrogates))]
    public async Task Lone_surrogate_escapes_get_a_400_naming_the_parameter(string path, string body, string? param)
    {
        var (status, json, _) = await fixture.PostAsync(path, body);
        Assert.Equal(400, status);
        var error = json.GetProperty("error");
        Assert.Equal("invalid_string", error.GetProperty("code").GetString());
        Assert.Contains("lone surrogate", error.GetProperty("message").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Paired_surrogate_escapes_are_text()
    {
        var (status, json, _) = await fixture.PostAsync("/tokenize", """{"content": "\ud83d\ude00"}""");
        Assert.Equal(200, status);
        Assert.NotEqual(0, json.GetProperty("tokens").GetArrayLength());
    }

    [Theory]
    [InlineData("/v1/chat/completions")]
    [InlineData("/v1/completions")]
    [InlineData("/tokenize")]
    public async Task A_body_that_is_not_utf8_gets_a_400_naming_the_offset(string path)
    {
        // 0xC3 0x28: a lead byte without its continuation, after the 14 bytes of {"prompt": "ab
        byte[] body = [.. Encoding.UTF8.GetBytes("{\"prompt\": \"ab"), 0xC3, 0x28, .. Encoding.UTF8.GetBytes("\", \"content\": \"x\", \"messages\": [{\"role\": \"user\", \"content\": \"y\"}]}")];
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(400, (int)response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("error");
        Assert.Equal("invalid_utf8", error.GetProperty("code").GetString());
        Assert.Contains("not valid UTF-8 (invalid byte at offset 14)", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_logit_bias_that_bans_every_token_gets_a_400()
    {
        int vocab = fixture.Server.Model!.VocabSize;
        var all = Enumerable.Range(0, vocab).ToDictionary(t => t.ToString(System.Globalization.CultureInfo.InvariantCulture), _ => -100);
        string chat = JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = "hi" } }, logit_bias = all, max_tokens = 4 });
        var (status, json, _) = await fixture.PostAsync("/v1/chat/completions", chat);
        Assert.Equal(400, status);
        Assert.Equal("logit_bias", json.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("bans every token", json.GetProperty("error").GetProperty("message").GetString());

        all["7"] = -99; // one token left: it is generated
        var (ok, body, _) = await fixture.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = "Once", logit_bias = all, max_tokens = 2 }));
        Assert.Equal(200, ok);
        Assert.Equal(2, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_input_gets_a_400_naming_the_parameter(string path, string body, int status, string? param)
    {
        var (actual, json, _) = await fixture.PostAsync(path, body);
        Assert.Equal(status, actual);
        var error = json.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        if (param is not null)
            Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Mutated_requests_never_get_a_5xx()
    {
        string[] seeds =
        [
            """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "temperature": 0.5, "stop": ["x"], "logit_bias": {"5": 1}}""",
            """{"prompt": "Once", "max_tokens": 2, "logprobs": 2, "stream": false}""",
            """{"content": "hello", "add_special": true}""",
        ];
        string[] paths = ["/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize", "/apply-template"];
        var random = new Random(20261201);
        const string alphabet = "{}[]\":,0123456789-eE.truefalsnul \\u";
        for (int i = 0; i < 150; i++)
        {
            var text = new System.Text.StringBuilder(seeds[random.Next(seeds.Length)]);
            for (int m = random.Next(1, 4); m > 0; m--)
            {
                int at = random.Next(text.Length);
                switch (random.Next(3))
                {
                    case 0: text.Remove(at, Math.Min(text.Length - at, random.Next(1, 8))); break;
                    case 1: text.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                    default: text[at] = alphabet[random.Next(alphabet.Length)]; break;
                }
            }

            string path = paths[random.Next(paths.Length)];
            var (status, _, _) = await fixture.PostAsync(path, text.ToString());
            Assert.True(status < 500, $"{path} answered {status} to: {text}");
        }
    }

    [Fact]
    public async Task Deeply_nested_json_is_refused_without_a_crash()
    {
        string body = "{\"messages\": " + new string('[', 5000) + new string(']', 5000) + "}";
        var (status, json, _) = await fixture.PostAsync("/v1/chat/completions", body);
        Assert.Equal(400, status);
        Assert.Contains("not valid JSON", json.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_413()
    {
        string huge = JsonSerializer.Serialize(new { prompt = new string('a', 9 << 20) });
        var (status, json, _) = await fixture.PostAsync("/v1/completions", huge);
        Assert.Equal(413, status);
        Assert.Equal("request_too_large", json.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_prompt_that_cannot_fit_the_context_gets_400_naming_the_limit()
    {
        string prompt = string.Concat(Enumerable.Repeat("once upon a time ", 1000));
        var (status, json, _) = await fixture.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt }));
        Assert.Equal(400, status);
        Assert.Equal("context_length_exceeded", json.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("2048", json.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Unknown_routes_get_a_json_404()
    {
        var (status, text) = await fixture.GetAsync("/v1/engines");
        Assert.Equal(404, status);
        Assert.Contains("\"not_found_error\"", text);
    }
}
