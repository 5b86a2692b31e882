using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// Streamed client tool calls, as OpenAI streams them: each call as soon as the model has written it, keyed by index,
/// the id and name first, then the arguments in pieces; parallel_tool_calls false keeps the first call.
/// </summary>
public sealed class StreamedToolCallTests(ScriptedQwen35ToolServerFixture fixture) : IClassFixture<ScriptedQwen35ToolServerFixture>
{
    private const string Tools = """
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
          "properties": {"city": {"type": "string"}}}}},
          {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}}]
        """;

    private const string TwoCalls =
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis, the capital of France, on the Seine\n</parameter>\n</function>\n</tool_call>\n" +
        "<tool_call>\n<function=get_time>\n<parameter=zone>\nEurope/Paris\n</parameter>\n</function>\n</tool_call>";

    [Fact]
    public async Task Calls_stream_by_index_with_their_arguments_in_pieces()
    {
        fixture.Script("</think>\n\n" + TwoCalls);
        var chunks = await Sse.ChunksAsync(fixture, """{"messages": [{"role": "user", "content": "Weather and time in Paris?"}], "stream": true, """ + Tools + "}");
        var deltas = chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray()).Select(c => c.GetProperty("delta")).ToList();

        var calls = Sse.ToolCalls(deltas);
        Assert.Equal(["get_weather", "get_time"], calls.Select(c => c.Name));
        Assert.All(calls, c => Assert.StartsWith("call_", c.Id));
        Assert.NotEqual(calls[0].Id, calls[1].Id);
        Assert.Equal("Paris, the capital of France, on the Seine", JsonDocument.Parse(calls[0].Arguments).RootElement.GetProperty("city").GetString());
        Assert.Equal("Europe/Paris", JsonDocument.Parse(calls[1].Arguments).RootElement.GetProperty("zone").GetString());
        Assert.True(calls[0].Pieces > 1, $"{calls[0].Pieces} argument pieces");
        Assert.Equal("tool_calls", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task The_openai_npm_stream_helper_puts_the_calls_together()
    {
        fixture.Script("</think>\n\n" + TwoCalls);
        var result = await Npm.NodeAsync($"stream-tool-calls.mjs {fixture.Server.Address}/v1");
        Assert.Equal("tool_calls", result.GetProperty("finish").GetString());
        var calls = result.GetProperty("calls");
        Assert.Equal(2, calls.GetArrayLength());
        Assert.Equal("get_weather", calls[0].GetProperty("function").GetProperty("name").GetString());
        string arguments = calls[0].GetProperty("function").GetProperty("arguments").GetString()!;
        Assert.Equal("Paris, the capital of France, on the Seine", JsonDocument.Parse(arguments).RootElement.GetProperty("city").GetString());
        Assert.Equal("get_time", calls[1].GetProperty("function").GetProperty("name").GetString());
    }

    [Fact]
    public async Task Parallel_tool_calls_false_streams_only_the_first_call()
    {
        fixture.Script("</think>\n\n" + TwoCalls);
        var deltas = await Sse.DeltasAsync(fixture, """{"messages": [{"role": "user", "content": "Weather and time in Paris?"}], "stream": true, "parallel_tool_calls": false, """ + Tools + "}");

        var call = Assert.Single(Sse.ToolCalls(deltas));
        Assert.Equal("get_weather", call.Name);
    }

    [Fact]
    public async Task The_whole_response_holds_the_same_calls()
    {
        fixture.Script("</think>\n\n" + TwoCalls);
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Weather and time in Paris?"}], """ + Tools + "}");

        Assert.Equal(200, status);
        var calls = Sse.Message(body).GetProperty("tool_calls");
        Assert.Equal(2, calls.GetArrayLength());
        Assert.Equal("get_time", calls[1].GetProperty("function").GetProperty("name").GetString());
    }
}
