using System.Text;
using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>The scripted server with the Qwen3.5 template and no tools: chat replies take the plain path.</summary>
public sealed class ScriptedQwen35ServerFixture : ScriptedToolServerFixture
{
    protected override string TemplatePath => "templates/2026/Qwen-Qwen3.5-4B.jinja";

    protected override ServerOptions Options => base.Options with { Tools = null };
}

/// <summary>The scripted tool server with the Qwen3.5 template and --reasoning-format none.</summary>
public sealed class ScriptedQwen35NoReasoningFormatFixture : ScriptedToolServerFixture
{
    protected override string TemplatePath => "templates/2026/Qwen-Qwen3.5-4B.jinja";

    protected override ServerOptions Options => base.Options with { ReasoningFormat = ReasoningFormat.None };
}

/// <summary>The scripted tool server with the Gemma 4 template: reasoning in its thought channel.</summary>
public sealed class ScriptedGemma4ToolServerFixture : ScriptedToolServerFixture
{
    protected override string TemplatePath => "templates/2026/google-gemma-4-31B-it.jinja";
}

internal static class Sse
{
    /// <summary>The chunks of a streamed chat completion, checked to end with [DONE].</summary>
    public static async Task<List<JsonElement>> ChunksAsync(ServerFixture fixture, string body, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null)
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, text);
        Assert.EndsWith("data: [DONE]\n\n", text);
        return text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith("data: {", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l["data: ".Length..]).RootElement.Clone()).ToList();
    }

    public static async Task<List<JsonElement>> DeltasAsync(ScriptedToolServerFixture fixture, string body) =>
        (await ChunksAsync(fixture, body)).SelectMany(c => c.GetProperty("choices").EnumerateArray()).Select(c => c.GetProperty("delta")).ToList();

    /// <summary>The concatenated string values of <paramref name="field"/> in the deltas.</summary>
    public static string Field(List<JsonElement> deltas, string field) =>
        string.Concat(deltas.Where(d => d.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String).Select(d => d.GetProperty(field).GetString()));

    public static JsonElement Message(JsonElement body) => body.GetProperty("choices")[0].GetProperty("message");

    /// <summary>
    /// The streamed tool calls, put together as a client does: by index, the first piece with id and name, then argument
    /// pieces (<c>Pieces</c> counts them).
    /// </summary>
    public static List<(string Id, string Name, string Arguments, int Pieces)> ToolCalls(List<JsonElement> deltas)
    {
        var calls = new List<(string Id, string Name, string Arguments, int Pieces)>();
        foreach (var piece in deltas.Where(d => d.TryGetProperty("tool_calls", out _)).SelectMany(d => d.GetProperty("tool_calls").EnumerateArray()))
        {
            int index = piece.GetProperty("index").GetInt32();
            var function = piece.GetProperty("function");
            string arguments = function.TryGetProperty("arguments", out var a) ? a.GetString()! : "";
            if (index == calls.Count)
                calls.Add((piece.GetProperty("id").GetString()!, function.GetProperty("name").GetString()!, arguments, 0));
            else
                calls[index] = calls[index] with { Arguments = calls[index].Arguments + arguments, Pieces = calls[index].Pieces + 1 };
        }

        return calls;
    }
}

/// <summary>Qwen3.5's generation prompt opens a &lt;think&gt; block: the reply's reasoning goes to reasoning_content.</summary>
public sealed class ReasoningEndToEndTests(ScriptedQwen35ServerFixture fixture) : IClassFixture<ScriptedQwen35ServerFixture>
{
    private const string Hello = """{"messages": [{"role": "user", "content": "Hello"}]""";

    [Fact]
    public async Task A_reply_in_the_block_the_prompt_opened_has_its_reasoning_apart()
    {
        fixture.Script("The user greets me.\n</think>\n\nHello there.");
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", Hello + "}");

        Assert.True(status == 200, body.ToString());
        var message = Sse.Message(body);
        Assert.Equal("The user greets me.", message.GetProperty("reasoning_content").GetString());
        Assert.Equal("Hello there.", message.GetProperty("content").GetString());
    }

    [Fact]
    public async Task A_streamed_reply_sends_reasoning_as_reasoning_content_deltas()
    {
        fixture.Script("The user greets me.\n</think>\n\nHello there.");
        var deltas = await Sse.DeltasAsync(fixture, Hello + """, "stream": true}""");

        Assert.Equal("The user greets me.", Sse.Field(deltas, "reasoning_content"));
        Assert.Equal("Hello there.", Sse.Field(deltas, "content"));
        Assert.DoesNotContain(deltas, d => d.GetRawText().Contains("think>", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unterminated_block_is_all_reasoning()
    {
        fixture.Script("Still thinking when the tokens ran out");
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", Hello + "}");

        Assert.True(status == 200, body.ToString());
        Assert.Equal("Still thinking when the tokens ran out", Sse.Message(body).GetProperty("reasoning_content").GetString());
        Assert.Equal("", Sse.Message(body).GetProperty("content").GetString());
    }

    [Fact]
    public async Task With_thinking_off_the_reply_is_content_unless_the_model_opens_a_block()
    {
        const string Off = """{"messages": [{"role": "user", "content": "Hello"}], "chat_template_kwargs": {"enable_thinking": false}}""";
        fixture.Script("Hello there. </think> stays.", "<think>\nA thought anyway.\n</think>\nHi.");

        var (_, plain, _) = await fixture.PostAsync("/v1/chat/completions", Off);
        Assert.Equal("Hello there. </think> stays.", Sse.Message(plain).GetProperty("content").GetString()!.TrimStart());
        Assert.False(Sse.Message(plain).TryGetProperty("reasoning_content", out _), plain.GetRawText());

        var (_, opened, _) = await fixture.PostAsync("/v1/chat/completions", Off);
        Assert.Equal("A thought anyway.", Sse.Message(opened).GetProperty("reasoning_content").GetString());
        Assert.Equal("Hi.", Sse.Message(opened).GetProperty("content").GetString());
    }
}

/// <summary>Reasoning is split off before tool-call parsing, in the tool loop.</summary>
public sealed class ReasoningToolLoopTests(ScriptedQwen35ToolServerFixture fixture) : IClassFixture<ScriptedQwen35ToolServerFixture>
{
    private const string WeatherTool = """
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
          "properties": {"city": {"type": "string"}}}}}]
        """;

    private const string Call = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>";

    [Fact]
    public async Task A_call_after_the_block_is_parsed_and_the_reasoning_streams_apart()
    {
        fixture.Script("I need the weather.\n</think>\n\n" + Call);
        var deltas = await Sse.DeltasAsync(fixture, """{"messages": [{"role": "user", "content": "Weather in Paris?"}], "stream": true, """ + WeatherTool + "}");

        Assert.Equal("I need the weather.", Sse.Field(deltas, "reasoning_content"));
        var call = Sse.ToolCalls(deltas).Single();
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("{\"city\":\"Paris\"}", call.Arguments);
    }

    [Fact]
    public async Task A_call_inside_the_block_is_not_made()
    {
        fixture.Script("Maybe " + Call + " would do.\n</think>\n\nI will not call it.");
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Weather in Paris?"}], """ + WeatherTool + "}");

        Assert.True(status == 200, body.ToString());
        Assert.Equal("stop", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var message = Sse.Message(body);
        Assert.False(message.TryGetProperty("tool_calls", out _), body.GetRawText());
        Assert.Equal("Maybe " + Call + " would do.", message.GetProperty("reasoning_content").GetString());
        Assert.Equal("I will not call it.", message.GetProperty("content").GetString());
    }

    [Fact]
    public async Task A_built_in_call_after_the_block_runs_and_the_reasoning_goes_back_to_the_model()
    {
        File.WriteAllText(fixture.Workspace.File("reasoned.txt"), "the word is heron\n");
        fixture.Script("Read the file.\n</think>\n\n<tool_call>\n<function=read_file>\n<parameter=path>\nreasoned.txt\n</parameter>\n</function>\n</tool_call>",
            "It says heron.\n</think>\n\nThe word is heron.");
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages": [{"role": "user", "content": "What does reasoned.txt say?"}]}""");

        Assert.True(status == 200, body.ToString());
        var message = Sse.Message(body);
        var run = message.GetProperty("tern_tool_calls")[0];
        Assert.True(run.GetProperty("ok").GetBoolean(), run.GetProperty("output").GetString());
        Assert.Contains("heron", run.GetProperty("output").GetString());
        Assert.Equal("It says heron.", message.GetProperty("reasoning_content").GetString());
        Assert.Equal("The word is heron.", message.GetProperty("content").GetString());
    }
}

/// <summary>--reasoning-format none: the reply stays in content verbatim, and a call inside the block is still not made.</summary>
public sealed class ReasoningFormatNoneTests(ScriptedQwen35NoReasoningFormatFixture fixture) : IClassFixture<ScriptedQwen35NoReasoningFormatFixture>
{
    [Fact]
    public async Task The_block_stays_in_content_and_its_call_is_not_made()
    {
        const string Reply = "Maybe <tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>?\n</think>\n\nNo call.";
        fixture.Script(Reply);
        var deltas = await Sse.DeltasAsync(fixture, """
            {"messages": [{"role": "user", "content": "Weather?"}], "stream": true,
             "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}
            """);

        Assert.Equal(Reply, Sse.Field(deltas, "content").TrimStart());
        Assert.Equal("", Sse.Field(deltas, "reasoning_content"));
        Assert.DoesNotContain(deltas, d => d.TryGetProperty("tool_calls", out _));
    }
}

/// <summary>Gemma 4 with thinking on (chat_template_kwargs): the model opens its thought channel itself.</summary>
public sealed class Gemma4ReasoningTests(ScriptedGemma4ToolServerFixture fixture) : IClassFixture<ScriptedGemma4ToolServerFixture>
{
    [Fact]
    public async Task The_thought_channel_goes_to_reasoning_content_and_a_call_after_it_is_made()
    {
        fixture.Script("<|channel>thought\nCall the tool.<channel|><|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|>");
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", """
            {"messages": [{"role": "user", "content": "Weather in Paris?"}], "chat_template_kwargs": {"enable_thinking": true},
             "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}
            """);

        Assert.True(status == 200, body.ToString());
        var message = Sse.Message(body);
        Assert.Equal("Call the tool.", message.GetProperty("reasoning_content").GetString());
        var function = message.GetProperty("tool_calls")[0].GetProperty("function");
        Assert.Equal("get_weather", function.GetProperty("name").GetString());
        Assert.Equal("{\"city\":\"Paris\"}", function.GetProperty("arguments").GetString());
    }
}
