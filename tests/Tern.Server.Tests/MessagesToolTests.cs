using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>The scripted llama-tiny server with the Qwen3 template and no built-in tools: only the client's tools.</summary>
public sealed class ScriptedClientToolServerFixture : ScriptedToolServerFixture
{
    protected override ServerOptions Options => base.Options with { Tools = null };
}

/// <summary>
/// Client tools on /v1/messages: the model's tool call (scripted, see <see cref="ScriptedToolServerFixture"/>) comes back
/// as a tool_use block with stop_reason tool_use, and the tool_result goes back to the model through the template.
/// </summary>
public sealed class MessagesToolTests(ScriptedClientToolServerFixture fixture) : IClassFixture<ScriptedClientToolServerFixture>
{
    private const string WeatherCall = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
    private const string Tools = """ "tools": [{"name": "get_weather", "description": "The weather in a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]""";

    [Fact]
    public async Task The_anthropic_npm_package_does_a_tool_use_tool_result_round_trip()
    {
        fixture.Script(WeatherCall, "It is sunny in Paris.", WeatherCall, "It is sunny in Paris.");
        var result = await Npm.NodeAsync($"anthropic-tools.mjs {fixture.Server.Address}");

        foreach (string way in new[] { "created", "streamed" })
        {
            var first = result.GetProperty(way).GetProperty("first");
            Assert.Equal("tool_use", first.GetProperty("stop_reason").GetString());
            var use = first.GetProperty("content").EnumerateArray().Single(b => b.GetProperty("type").GetString() == "tool_use");
            Assert.Equal("get_weather", use.GetProperty("name").GetString());
            Assert.Equal("Paris", use.GetProperty("input").GetProperty("city").GetString());
            Assert.False(string.IsNullOrEmpty(use.GetProperty("id").GetString()));

            var second = result.GetProperty(way).GetProperty("second");
            Assert.Equal("end_turn", second.GetProperty("stop_reason").GetString());
            Assert.Equal("It is sunny in Paris.", second.GetProperty("content")[0].GetProperty("text").GetString()!.Trim()); // the tokenizer adds a leading space
        }
    }

    [Fact]
    public async Task A_streamed_tool_use_sends_its_input_as_input_json_delta()
    {
        fixture.Script("Let me look.\n" + WeatherCall);
        var events = await MessagesSse.EventsAsync(fixture, $$"""{"model": "m", "max_tokens": 64, "stream": true, {{Tools}}, "messages": [{"role": "user", "content": "Weather in Paris?"}]}""");

        var starts = events.Where(e => e.GetProperty("type").GetString() == "content_block_start").Select(e => e.GetProperty("content_block")).ToList();
        Assert.Equal(["text", "tool_use"], starts.Select(b => b.GetProperty("type").GetString()));
        Assert.Equal("get_weather", starts[1].GetProperty("name").GetString());
        string json = string.Concat(events.Where(e => e.GetProperty("type").GetString() == "content_block_delta" && e.GetProperty("index").GetInt32() == 1)
            .Select(e => e.GetProperty("delta")).Select(d => { Assert.Equal("input_json_delta", d.GetProperty("type").GetString()); return d.GetProperty("partial_json").GetString(); }));
        Assert.Equal("Paris", JsonDocument.Parse(json).RootElement.GetProperty("city").GetString());
        Assert.DoesNotContain("<tool_call>", MessagesSse.Text(events));
        Assert.Equal(2, events.Count(e => e.GetProperty("type").GetString() == "content_block_stop"));
        Assert.Equal("tool_use", events.Single(e => e.GetProperty("type").GetString() == "message_delta").GetProperty("delta").GetProperty("stop_reason").GetString());
    }

    [Fact]
    public async Task Disable_parallel_tool_use_returns_one_tool_use()
    {
        fixture.Script(WeatherCall + "\n" + WeatherCall.Replace("Paris", "Rome"));
        var (two, twoBody, _) = await fixture.PostAsync("/v1/messages", $$"""{"model": "m", "max_tokens": 96, {{Tools}}, "messages": [{"role": "user", "content": "Paris and Rome?"}]}""");
        fixture.Script(WeatherCall + "\n" + WeatherCall.Replace("Paris", "Rome"));
        var (one, oneBody, _) = await fixture.PostAsync("/v1/messages", $$"""{"model": "m", "max_tokens": 96, {{Tools}}, "tool_choice": {"type": "auto", "disable_parallel_tool_use": true}, "messages": [{"role": "user", "content": "Paris and Rome?"}]}""");

        Assert.True(two == 200 && one == 200, twoBody.ToString() + oneBody);
        Assert.Equal(2, twoBody.GetProperty("content").EnumerateArray().Count(b => b.GetProperty("type").GetString() == "tool_use"));
        var use = Assert.Single(oneBody.GetProperty("content").EnumerateArray(), b => b.GetProperty("type").GetString() == "tool_use");
        Assert.Equal("Paris", use.GetProperty("input").GetProperty("city").GetString());
    }

    [Fact]
    public async Task Tool_choice_none_offers_no_tools_and_parses_no_calls()
    {
        string messages = """ "messages": [{"role": "user", "content": "Weather in Paris?"}]""";
        var (_, auto, _) = await fixture.PostAsync("/v1/messages/count_tokens", $$"""{"model": "m", {{Tools}}, {{messages}}}""");
        var (_, none, _) = await fixture.PostAsync("/v1/messages/count_tokens", $$"""{"model": "m", {{Tools}}, "tool_choice": {"type": "none"}, {{messages}}}""");
        var (_, bare, _) = await fixture.PostAsync("/v1/messages/count_tokens", $$"""{"model": "m", {{messages}}}""");
        Assert.True(auto.GetProperty("input_tokens").GetInt32() > none.GetProperty("input_tokens").GetInt32());
        Assert.Equal(bare.GetProperty("input_tokens").GetInt32(), none.GetProperty("input_tokens").GetInt32());

        fixture.Script(WeatherCall);
        var (status, body, _) = await fixture.PostAsync("/v1/messages", $$"""{"model": "m", "max_tokens": 64, {{Tools}}, "tool_choice": {"type": "none"}, {{messages}}}""");
        Assert.True(status == 200, body.ToString());
        Assert.Equal("end_turn", body.GetProperty("stop_reason").GetString());
        Assert.All(body.GetProperty("content").EnumerateArray(), b => Assert.Equal("text", b.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task An_Anthropic_conversation_becomes_the_same_chat_messages_as_its_OpenAI_equivalent()
    {
        string anthropic = $$$"""
            {"model": "m", "max_tokens": 8, {{{Tools}}}, "system": [{"type": "text", "text": "Be brief."}],
             "messages": [
               {"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": [{"type": "thinking", "thinking": "I should call the tool.", "signature": ""},
                 {"type": "text", "text": "Checking."}, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "Sunny"}]},
                 {"type": "text", "text": "Thanks. And tomorrow?"}]}]}
            """;
        string openAi = """
            {"messages": [
               {"role": "system", "content": "Be brief."},
               {"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": "Checking.", "reasoning_content": "I should call the tool.",
                "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
               {"role": "tool", "tool_call_id": "toolu_1", "name": "get_weather", "content": "Sunny"},
               {"role": "user", "content": "Thanks. And tomorrow?"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}
            """;
        var converted = MessagesRequest.Read(Parse(anthropic), new Tern.Runtime.Sampling.SamplingParams(), 1000);
        Assert.True(JsonNode.DeepEquals(ChatMessages.Read(Parse(openAi)), converted.Messages), converted.Messages.ToJsonString());
        Assert.True(JsonNode.DeepEquals(ChatMessages.Tools(Parse(openAi)), converted.Tools), converted.Tools!.ToJsonString());

        // and the template gets them: the prompt is the chat completion's, token for token
        var (_, count, _) = await fixture.PostAsync("/v1/messages/count_tokens", anthropic.Replace("\"max_tokens\": 8,", ""));
        var (_, chat, _) = await fixture.PostAsync("/v1/chat/completions", openAi.TrimEnd()[..^1] + ", \"max_tokens\": 1}");
        Assert.Equal(chat.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), count.GetProperty("input_tokens").GetInt32());
    }

    private static JsonRequest Parse(string json)
    {
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        http.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(json));
        return JsonRequest.ReadAsync(http.Request, 1 << 20, TestContext.Current.CancellationToken).GetAwaiter().GetResult();
    }
}

internal static class MessagesSse
{
    /// <summary>The events of a streamed message, each checked to carry its type on an `event:` line.</summary>
    public static async Task<List<JsonElement>> EventsAsync(ServerFixture fixture, string body, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null)
            request.Headers.Add("x-api-key", key);
        using var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, text);
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e =>
        {
            var lines = e.Split('\n');
            Assert.StartsWith("event: ", lines[0]);
            var data = JsonDocument.Parse(lines[1]["data: ".Length..]).RootElement.Clone();
            Assert.Equal(lines[0]["event: ".Length..], data.GetProperty("type").GetString());
            return data;
        }).ToList();
        Assert.Equal("message_start", events[0].GetProperty("type").GetString());
        Assert.Equal("message_stop", events[^1].GetProperty("type").GetString());
        return events;
    }

    /// <summary>The concatenated deltas of one kind (text_delta: text, thinking_delta: thinking).</summary>
    public static string Text(List<JsonElement> events, string kind = "text_delta", string field = "text") =>
        string.Concat(events.Where(e => e.GetProperty("type").GetString() == "content_block_delta")
            .Select(e => e.GetProperty("delta")).Where(d => d.GetProperty("type").GetString() == kind).Select(d => d.GetProperty(field).GetString()));
}
