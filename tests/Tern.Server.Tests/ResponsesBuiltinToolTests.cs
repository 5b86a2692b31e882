#pragma warning disable OPENAI001 // the SDK marks its Responses client as evaluation-only
using System.ClientModel;
using System.Text.Json;
using OpenAI.Responses;

namespace Tern.Server.Tests;

/// <summary>With --tools, the built-in tool runs of a response are mcp_call output items (server label "tern") with their output.</summary>
public sealed class ResponsesBuiltinToolTests(ScriptedToolServerFixture fixture) : IClassFixture<ScriptedToolServerFixture>
{
    private const string ReadNotes = "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"notes.txt\"}}\n</tool_call>";

    [Fact]
    public async Task A_built_in_tool_run_is_an_mcp_call_item_before_the_answer()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script(ReadNotes, "The word is tern.");
        var (status, body, _) = await fixture.PostAsync("/v1/responses", """{"input": "What is in notes.txt?"}""");

        Assert.True(status == 200, body.ToString());
        var output = body.GetProperty("output");
        Assert.Equal(["mcp_call", "message"], output.EnumerateArray().Select(i => i.GetProperty("type").GetString()));
        var run = output[0];
        Assert.Equal("tern", run.GetProperty("server_label").GetString());
        Assert.Equal("read_file", run.GetProperty("name").GetString());
        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal("notes.txt", JsonDocument.Parse(run.GetProperty("arguments").GetString()!).RootElement.GetProperty("path").GetString());
        Assert.Contains("the secret word is tern", run.GetProperty("output").GetString());
        Assert.Equal("The word is tern.", output[1].GetProperty("content")[0].GetProperty("text").GetString()!.Trim());
        Assert.True(body.GetProperty("usage").GetProperty("output_tokens").GetInt32() > 10); // both turns

        // The conversation goes on with the output sent back as input, the tool run included.
        fixture.Script("You are welcome.");
        string next = $$"""{"input": [{"role": "user", "content": "What is in notes.txt?"}, {{string.Join(", ", output.EnumerateArray().Select(i => i.GetRawText()))}}, {"role": "user", "content": "Thanks"}]}""";
        var (nextStatus, nextBody, _) = await fixture.PostAsync("/v1/responses", next);
        Assert.True(nextStatus == 200, nextBody.ToString());
        Assert.True(nextBody.GetProperty("usage").GetProperty("input_tokens").GetInt32() > body.GetProperty("usage").GetProperty("input_tokens").GetInt32() / 2 + 10);
        Assert.Equal("You are welcome.", nextBody.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString()!.Trim());
    }

    [Fact]
    public async Task A_refused_tool_run_is_a_failed_mcp_call_with_its_error()
    {
        fixture.Script("<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"../../../../etc/passwd\"}}\n</tool_call>", "I cannot.");
        var (status, body, _) = await fixture.PostAsync("/v1/responses", """{"input": "Read /etc/passwd"}""");

        Assert.True(status == 200, body.ToString());
        var run = body.GetProperty("output")[0];
        Assert.Equal("failed", run.GetProperty("status").GetString());
        Assert.Equal("mcp_tool_execution_error", run.GetProperty("error").GetProperty("type").GetString());
        Assert.DoesNotContain("root:", run.GetProperty("output").GetString());
    }

    [Fact]
    public async Task An_error_after_the_stream_started_is_an_error_event()
    {
        // The tool's output makes the second turn's prompt longer than the context: the status line is already sent.
        File.WriteAllText(fixture.Workspace.File("big.txt"), string.Concat(Enumerable.Repeat("lorem ipsum dolor sit amet ", 3000)));
        fixture.Script(ReadNotes.Replace("notes.txt", "big.txt", StringComparison.Ordinal));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/responses") { Content = new StringContent("""{"input": "Read big.txt", "stream": true}""", System.Text.Encoding.UTF8, "application/json") };
        using var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(200, (int)response.StatusCode);
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(b => JsonDocument.Parse(b.Split('\n').Single(l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..]).RootElement.Clone()).ToList();
        Assert.Equal("response.created", events[0].GetProperty("type").GetString());
        Assert.Contains(events, e => e.TryGetProperty("item", out var item) && item.GetProperty("type").GetString() == "mcp_call");
        var error = events[^1];
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(events.Count - 1, error.GetProperty("sequence_number").GetInt32());
        await fixture.WaitUntilIdleAsync();
    }

    [Fact]
    public async Task The_npm_clients_stream_helper_accumulates_reasoning_the_tool_run_and_the_answer()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script("<think>\nI should read the notes.\n</think>\n\n" + ReadNotes, "The word is tern.");
        var result = await Npm.NodeAsync($"responses-stream.mjs {fixture.Server.Address}/v1 \"What is in notes.txt?\"");

        var response = result.GetProperty("response");
        Assert.Equal("completed", response.GetProperty("status").GetString());
        var output = response.GetProperty("output");
        Assert.Equal(["reasoning", "mcp_call", "message"], output.EnumerateArray().Select(i => i.GetProperty("type").GetString()));
        Assert.Equal("I should read the notes.", output[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Contains("the secret word is tern", output[1].GetProperty("output").GetString());
        Assert.Equal("The word is tern.", response.GetProperty("output_text").GetString()!.Trim());
        Assert.Contains("response.reasoning_text.delta", result.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task The_dotnet_sdk_reads_the_tool_run_as_an_McpToolCallItem()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script(ReadNotes, "The word is tern.");
        var client = new ResponsesClient(new ApiKeyCredential("unused"), new ResponsesClientOptions { Endpoint = new Uri(fixture.Server.Address + "/v1") });
        ResponseResult response = await client.CreateResponseAsync(new CreateResponseOptions("tiny", [ResponseItem.CreateUserMessageItem("What is in notes.txt?")]), TestContext.Current.CancellationToken);

        var run = Assert.IsType<McpToolCallItem>(response.OutputItems[0]);
        Assert.Equal("tern", run.ServerLabel);
        Assert.Equal("read_file", run.ToolName);
        Assert.Contains("the secret word is tern", run.ToolOutput);
        Assert.Equal("The word is tern.", response.GetOutputText().Trim());
    }
}
