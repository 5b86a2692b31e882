#pragma warning disable OPENAI001 // the SDK marks its Responses client as evaluation-only
using System.ClientModel;
using OpenAI.Responses;

namespace Tern.Server.Tests;

/// <summary>The OpenAI .NET SDK's <see cref="ResponsesClient"/>, unmodified, against POST /v1/responses.</summary>
public sealed class ResponsesDotnetClientTests(ScriptedResponsesFixture fixture) : IClassFixture<ScriptedResponsesFixture>
{
    private ResponsesClient Client => new(new ApiKeyCredential("unused"), new ResponsesClientOptions { Endpoint = new Uri(fixture.Server.Address + "/v1") });

    [Fact]
    public async Task CreateResponse_reads_the_text_status_and_usage()
    {
        fixture.Script("Hello there.");
        var options = new CreateResponseOptions("tiny", [ResponseItem.CreateUserMessageItem("Hi")]) { Instructions = "Be brief.", MaxOutputTokenCount = 64, Temperature = 0.2f };
        ResponseResult response = await Client.CreateResponseAsync(options, TestContext.Current.CancellationToken);

        Assert.Equal("Hello there.", response.GetOutputText().Trim());
        Assert.Equal(ResponseStatus.Completed, response.Status);
        Assert.StartsWith("resp_", response.Id);
        Assert.True(response.Usage.InputTokenCount > 5);
        Assert.True(response.Usage.OutputTokenCount > 2);
        Assert.True(response.Usage.InputTokenDetails.CachedTokenCount >= 0);
        Assert.Equal(64, response.MaxOutputTokenCount);
        Assert.IsAssignableFrom<MessageResponseItem>(Assert.Single(response.OutputItems));
    }

    [Fact]
    public async Task CreateResponseStreaming_streams_text_deltas_and_completes()
    {
        fixture.Script("<think>\nA greeting.\n</think>\n\nHello there.");
        var options = new CreateResponseOptions("tiny", [ResponseItem.CreateUserMessageItem("Hi")]) { StreamingEnabled = true };
        string text = "";
        ResponseResult? completed = null;
        var kinds = new List<string>();
        await foreach (var update in await Client.CreateResponseStreamingAsync(options, TestContext.Current.CancellationToken))
        {
            kinds.Add(update.GetType().Name);
            if (update is StreamingResponseOutputTextDeltaUpdate delta)
                text += delta.Delta;
            if (update is StreamingResponseCompletedUpdate done)
                completed = done.Response;
        }

        Assert.Equal("Hello there.", text);
        Assert.NotNull(completed);
        Assert.Equal(ResponseStatus.Completed, completed.Status);
        Assert.Equal("Hello there.", completed.GetOutputText());
        Assert.IsType<ReasoningResponseItem>(completed.OutputItems[0]);
        Assert.Equal(nameof(StreamingResponseCreatedUpdate), kinds[0]);
        Assert.Contains(nameof(StreamingResponseReasoningTextDeltaUpdate), kinds);
    }

    [Fact]
    public async Task A_function_tool_call_comes_back_as_a_FunctionCallResponseItem_and_its_output_is_answered()
    {
        fixture.Script("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", "It is sunny.");
        var tool = ResponseTool.CreateFunctionTool("get_weather", BinaryData.FromString("""{"type": "object", "properties": {"city": {"type": "string"}}}"""), strictModeEnabled: false, "The weather in a city");
        var input = new List<ResponseItem> { ResponseItem.CreateUserMessageItem("Weather in Paris?") };
        var options = new CreateResponseOptions("tiny", input) { Tools = { tool } };
        ResponseResult first = await Client.CreateResponseAsync(options, TestContext.Current.CancellationToken);

        var call = Assert.IsType<FunctionCallResponseItem>(Assert.Single(first.OutputItems));
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Contains("Paris", call.FunctionArguments.ToString());
        input.Add(call);
        input.Add(ResponseItem.CreateFunctionCallOutputItem(call.CallId, "sunny"));
        ResponseResult second = await Client.CreateResponseAsync(new CreateResponseOptions("tiny", input) { Tools = { tool } }, TestContext.Current.CancellationToken);
        Assert.Equal("It is sunny.", second.GetOutputText().Trim());
    }
}
