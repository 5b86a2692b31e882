using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>The official `openai` npm package, unmodified, against POST /v1/responses (scripted replies, real template and parser).</summary>
public sealed class ResponsesNpmClientTests(ScriptedResponsesFixture fixture) : IClassFixture<ScriptedResponsesFixture>
{
    private const string CallWeather = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

    [Fact]
    public async Task Responses_create_plain_and_streamed_and_the_stream_helpers_final_response_read_the_answer()
    {
        fixture.Script("Hello there.", "Hello again.", "Hello at last.");
        var result = await RunAsync("responses-create.mjs");

        var created = result.GetProperty("created");
        Assert.StartsWith("resp_", created.GetProperty("id").GetString());
        Assert.Equal("completed", created.GetProperty("status").GetString());
        Assert.Equal("Hello there.", created.GetProperty("output_text").GetString()!.Trim());
        Assert.True(created.GetProperty("usage").GetProperty("output_tokens").GetInt32() > 2);

        var streamed = result.GetProperty("streamed");
        Assert.Equal("Hello again.", streamed.GetProperty("deltas").GetString()!.Trim());
        Assert.Equal("Hello again.", streamed.GetProperty("text").GetString()!.Trim());
        Assert.Equal("completed", streamed.GetProperty("status").GetString());
        var types = streamed.GetProperty("types").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Equal("response.created", types[0]);
        Assert.Equal("response.completed", types[^1]);
        Assert.Contains("response.output_item.added", types);
        Assert.Contains("response.output_item.done", types);

        var final = result.GetProperty("final");
        Assert.Equal("completed", final.GetProperty("status").GetString());
        Assert.Equal("Hello at last.", final.GetProperty("output_text").GetString()!.Trim());
        Assert.Equal("Hello at last.", final.GetProperty("streamedText").GetString()!.Trim());
        Assert.Equal(["message"], final.GetProperty("types").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task A_function_tool_round_trip_goes_from_function_call_to_function_call_output_to_the_answer()
    {
        fixture.Script(CallWeather, "It is sunny in Paris.", CallWeather, "Sunny, as I said.");
        var result = await RunAsync("responses-tools.mjs");

        foreach (var (name, answer) in new[] { ("plain", "It is sunny in Paris."), ("streamed", "Sunny, as I said.") })
        {
            var run = result.GetProperty(name);
            var call = run.GetProperty("call");
            Assert.Equal("get_weather", call.GetProperty("name").GetString());
            Assert.Equal("Paris", JsonDocument.Parse(call.GetProperty("arguments").GetString()!).RootElement.GetProperty("city").GetString());
            Assert.Equal("completed", call.GetProperty("status").GetString());
            Assert.Equal(answer, run.GetProperty("answer").GetString()!.Trim());
            Assert.Equal("completed", run.GetProperty("status").GetString());
        }
    }

    private async Task<JsonElement> RunAsync(string script)
    {
        return await Npm.NodeAsync($"{script} {fixture.Server.Address}/v1");
    }
}
