using System.Text;
using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>The scripted server (llama-tiny, the real Qwen3 template) without built-in tools: the client's function tools only.</summary>
public sealed class ScriptedResponsesFixture : ScriptedToolServerFixture
{
    protected override ServerOptions Options => base.Options with { Tools = null };
}

/// <summary>POST /v1/responses over raw HTTP: the response object, its output items, usage and the streamed events.</summary>
public sealed class ResponsesApiTests(ScriptedResponsesFixture fixture) : IClassFixture<ScriptedResponsesFixture>
{
    private const string Weather = """{"type": "function", "name": "get_weather", "description": "Weather in a city", "strict": false, "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}""";
    private const string CallWeather = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

    [Fact]
    public async Task A_string_input_gets_a_completed_response_with_a_message_and_usage()
    {
        fixture.Script("Hello there.");
        var body = await PostAsync("""{"model": "tiny", "input": "Hi", "instructions": "Be brief.", "temperature": 0.5, "metadata": {"k": "v"}}""");

        Assert.StartsWith("resp_", body.GetProperty("id").GetString());
        Assert.Equal("response", body.GetProperty("object").GetString());
        Assert.Equal("completed", body.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("incomplete_details").ValueKind);
        var message = Assert.Single(body.GetProperty("output").EnumerateArray());
        Assert.Equal("message", message.GetProperty("type").GetString());
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        Assert.Equal("completed", message.GetProperty("status").GetString());
        Assert.StartsWith("msg_", message.GetProperty("id").GetString());
        var part = Assert.Single(message.GetProperty("content").EnumerateArray());
        Assert.Equal("output_text", part.GetProperty("type").GetString());
        Assert.Equal("Hello there.", part.GetProperty("text").GetString()!.Trim());
        Assert.Equal(0, part.GetProperty("annotations").GetArrayLength());

        var usage = body.GetProperty("usage");
        Assert.True(usage.GetProperty("input_tokens").GetInt32() > 5);
        Assert.True(usage.GetProperty("output_tokens").GetInt32() > 2);
        Assert.Equal(usage.GetProperty("input_tokens").GetInt32() + usage.GetProperty("output_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal(0, usage.GetProperty("output_tokens_details").GetProperty("reasoning_tokens").GetInt32());
        Assert.True(usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32() >= 0);

        Assert.Equal("Be brief.", body.GetProperty("instructions").GetString());
        Assert.Equal(0.5, body.GetProperty("temperature").GetDouble());
        Assert.Equal("auto", body.GetProperty("tool_choice").GetString());
        Assert.Equal("text", body.GetProperty("text").GetProperty("format").GetProperty("type").GetString());
        Assert.False(body.GetProperty("store").GetBoolean());
        Assert.Equal("v", body.GetProperty("metadata").GetProperty("k").GetString());
    }

    [Fact]
    public async Task The_models_reasoning_is_a_reasoning_item_before_the_message()
    {
        fixture.Script("<think>\nThe user greets me.\n</think>\n\nHello.");
        var body = await PostAsync("""{"input": "Hi"}""");

        var output = body.GetProperty("output");
        Assert.Equal(2, output.GetArrayLength());
        Assert.Equal("reasoning", output[0].GetProperty("type").GetString());
        Assert.StartsWith("rs_", output[0].GetProperty("id").GetString());
        Assert.Equal(0, output[0].GetProperty("summary").GetArrayLength());
        var reasoning = Assert.Single(output[0].GetProperty("content").EnumerateArray());
        Assert.Equal("reasoning_text", reasoning.GetProperty("type").GetString());
        Assert.Equal("The user greets me.", reasoning.GetProperty("text").GetString());
        Assert.Equal("Hello.", output[1].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.True(body.GetProperty("usage").GetProperty("output_tokens_details").GetProperty("reasoning_tokens").GetInt32() > 0);
    }

    [Fact]
    public async Task A_call_to_a_function_tool_is_a_function_call_item()
    {
        fixture.Script(CallWeather);
        var body = await PostAsync($$"""{"input": "Weather in Paris?", "tools": [{{Weather}}]}""");

        Assert.Equal("completed", body.GetProperty("status").GetString());
        var call = Assert.Single(body.GetProperty("output").EnumerateArray());
        Assert.Equal("function_call", call.GetProperty("type").GetString());
        Assert.StartsWith("fc_", call.GetProperty("id").GetString());
        Assert.False(string.IsNullOrEmpty(call.GetProperty("call_id").GetString()));
        Assert.Equal("get_weather", call.GetProperty("name").GetString());
        Assert.Equal("completed", call.GetProperty("status").GetString());
        Assert.Equal("Paris", JsonDocument.Parse(call.GetProperty("arguments").GetString()!).RootElement.GetProperty("city").GetString());
        Assert.Equal("get_weather", body.GetProperty("tools")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task Parallel_tool_calls_false_returns_only_the_first_call()
    {
        string two = CallWeather + "\n" + CallWeather.Replace("Paris", "Rome", StringComparison.Ordinal);
        fixture.Script(two);
        var all = await PostAsync($$"""{"input": "Weather?", "tools": [{{Weather}}]}""");
        fixture.Script(two);
        var one = await PostAsync($$"""{"input": "Weather?", "tools": [{{Weather}}], "parallel_tool_calls": false}""");

        Assert.Equal(2, all.GetProperty("output").EnumerateArray().Count(i => i.GetProperty("type").GetString() == "function_call"));
        var call = Assert.Single(one.GetProperty("output").EnumerateArray());
        Assert.Contains("Paris", call.GetProperty("arguments").GetString());
        Assert.False(one.GetProperty("parallel_tool_calls").GetBoolean());
    }

    [Fact]
    public async Task Tool_choice_none_leaves_the_tools_out_and_the_text_as_it_is()
    {
        fixture.Script(CallWeather);
        var body = await PostAsync($$"""{"input": "Weather?", "tools": [{{Weather}}], "tool_choice": "none"}""");

        var message = Assert.Single(body.GetProperty("output").EnumerateArray());
        Assert.Equal("message", message.GetProperty("type").GetString());
        Assert.Contains("get_weather", message.GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task A_function_call_output_in_the_input_goes_back_to_the_model_and_it_answers()
    {
        fixture.Script("It is sunny in Paris.");
        var body = await PostAsync($$"""
            {"tools": [{{Weather}}], "input": [
              {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
              {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}", "status": "completed"},
              {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 24 C"}]}
            """);

        Assert.Equal("It is sunny in Paris.", body.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString()!.Trim());
    }

    [Fact]
    public async Task Max_output_tokens_ends_the_response_incomplete()
    {
        fixture.Script("One two three four five six seven eight nine ten.");
        var body = await PostAsync("""{"input": "Count", "max_output_tokens": 3}""");

        Assert.Equal("incomplete", body.GetProperty("status").GetString());
        Assert.Equal("max_output_tokens", body.GetProperty("incomplete_details").GetProperty("reason").GetString());
        Assert.Equal(3, body.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.Equal("incomplete", body.GetProperty("output")[0].GetProperty("status").GetString());
        Assert.Equal(3, body.GetProperty("max_output_tokens").GetInt32());
    }

    [Fact]
    public async Task Reasoning_effort_none_turns_the_templates_thinking_off()
    {
        // Qwen3's template writes an empty <think></think> block into the prompt when enable_thinking is false.
        fixture.Script("A.", "B.", "C.");
        int plain = (await PostAsync("""{"input": "Hi"}""")).GetProperty("usage").GetProperty("input_tokens").GetInt32();
        var off = await PostAsync("""{"input": "Hi", "reasoning": {"effort": "none"}}""");
        int high = (await PostAsync("""{"input": "Hi", "reasoning": {"effort": "high"}}""")).GetProperty("usage").GetProperty("input_tokens").GetInt32();

        Assert.True(off.GetProperty("usage").GetProperty("input_tokens").GetInt32() > plain);
        Assert.Equal(plain, high);
        Assert.Equal("none", off.GetProperty("reasoning").GetProperty("effort").GetString());
    }

    [Fact]
    public async Task A_repeated_long_prompt_reports_cached_input_tokens()
    {
        string input = JsonSerializer.Serialize(string.Concat(Enumerable.Repeat("The little girl walked in the park and saw a big red ball. ", 12)));
        fixture.Script("One.", "Two.");
        await PostAsync($$"""{"input": {{input}}}""");
        var second = await PostAsync($$"""{"input": {{input}}}""");

        var usage = second.GetProperty("usage");
        Assert.True(usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32() > 64, usage.ToString());
    }

    [Fact]
    public async Task A_streamed_response_sends_the_event_sequence_with_sequence_numbers()
    {
        fixture.Script("<think>\nHmm.\n</think>\n\nHello there.");
        var events = await StreamAsync("""{"input": "Hi", "stream": true}""");
        var types = events.Select(e => e.GetProperty("type").GetString()).ToList();

        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e.GetProperty("sequence_number").GetInt32()));
        Assert.Equal(["response.created", "response.in_progress"], types.Take(2));
        Assert.Equal("response.completed", types[^1]);
        Assert.Equal(
            ["response.output_item.added", "response.content_part.added", "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
             "response.output_item.added", "response.content_part.added", "response.output_text.done", "response.content_part.done", "response.output_item.done"],
            types.Where(t => !t!.EndsWith(".delta", StringComparison.Ordinal) && t is not ("response.created" or "response.in_progress" or "response.completed")));
        Assert.Equal("Hmm.", Concat(events, "response.reasoning_text.delta"));
        Assert.Equal("Hello there.", Concat(events, "response.output_text.delta"));
        Assert.All(events.Where(e => e.GetProperty("type").GetString() == "response.output_text.delta"), e =>
        {
            Assert.Equal(1, e.GetProperty("output_index").GetInt32());
            Assert.Equal(0, e.GetProperty("content_index").GetInt32());
        });
        string messageId = events.Last(e => e.GetProperty("type").GetString() == "response.output_item.added").GetProperty("item").GetProperty("id").GetString()!;
        Assert.All(events.Where(e => e.GetProperty("type").GetString()!.StartsWith("response.output_text", StringComparison.Ordinal)), e => Assert.Equal(messageId, e.GetProperty("item_id").GetString()));

        var completed = events[^1].GetProperty("response");
        Assert.Equal("completed", completed.GetProperty("status").GetString());
        Assert.Equal("Hello there.", completed.GetProperty("output")[1].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.True(completed.GetProperty("usage").GetProperty("output_tokens").GetInt32() > 3);
        Assert.Equal(events[0].GetProperty("response").GetProperty("id").GetString(), completed.GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_streamed_function_call_sends_its_arguments_events()
    {
        fixture.Script(CallWeather);
        var events = await StreamAsync($$"""{"input": "Weather?", "tools": [{{Weather}}], "stream": true}""");

        var done = events.Single(e => e.GetProperty("type").GetString() == "response.function_call_arguments.done");
        Assert.Equal("Paris", JsonDocument.Parse(done.GetProperty("arguments").GetString()!).RootElement.GetProperty("city").GetString());
        Assert.Equal(done.GetProperty("arguments").GetString(), Concat(events, "response.function_call_arguments.delta"));
        var item = events.Last(e => e.GetProperty("type").GetString() == "response.output_item.done").GetProperty("item");
        Assert.Equal("function_call", item.GetProperty("type").GetString());
        Assert.Equal(item.GetProperty("id").GetString(), done.GetProperty("item_id").GetString());
        Assert.Equal("response.completed", events[^1].GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_streamed_response_cut_by_max_output_tokens_ends_with_response_incomplete()
    {
        fixture.Script("One two three four five six seven eight nine ten.");
        var events = await StreamAsync("""{"input": "Count", "max_output_tokens": 2, "stream": true}""");

        Assert.Equal("response.incomplete", events[^1].GetProperty("type").GetString());
        Assert.Equal("max_output_tokens", events[^1].GetProperty("response").GetProperty("incomplete_details").GetProperty("reason").GetString());
    }

    private async Task<JsonElement> PostAsync(string json)
    {
        var (status, body, _) = await fixture.PostAsync("/v1/responses", json);
        Assert.True(status == 200, body.ToString());
        return body;
    }

    private async Task<List<JsonElement>> StreamAsync(string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/responses") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, text);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<JsonElement>();
        foreach (string block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string[] lines = block.Split('\n');
            var e = JsonDocument.Parse(lines.Single(l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..]).RootElement.Clone();
            Assert.Equal("event: " + e.GetProperty("type").GetString(), lines[0]);
            events.Add(e);
        }

        return events;
    }

    private static string Concat(List<JsonElement> events, string type) =>
        string.Concat(events.Where(e => e.GetProperty("type").GetString() == type).Select(e => e.GetProperty("delta").GetString()));
}
