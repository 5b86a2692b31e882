using System.Text;
using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// /v1/messages with --tools: built-in tool calls run in the sandbox and go back to the model, as on chat completions;
/// the client sees each run in the extra tern_tool_runs field, or as a tern_tool_run event while streaming, which
/// Anthropic's clients pass over.
/// </summary>
public sealed class MessagesBuiltinToolTests(ScriptedToolServerFixture fixture) : IClassFixture<ScriptedToolServerFixture>
{
    private const string ReadNotes = "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"notes.txt\"}}\n</tool_call>";
    private const string Request = """{"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "What is in notes.txt?"}]""";

    [Fact]
    public async Task A_built_in_tool_runs_and_the_answer_comes_back_with_the_run_in_tern_tool_runs()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script(ReadNotes, "The word is tern.");
        var (status, body, _) = await fixture.PostAsync("/v1/messages", Request + "}");

        Assert.True(status == 200, body.ToString());
        Assert.Equal("end_turn", body.GetProperty("stop_reason").GetString());
        var block = Assert.Single(body.GetProperty("content").EnumerateArray());
        Assert.Equal("The word is tern.", block.GetProperty("text").GetString()!.Trim());
        var run = Assert.Single(body.GetProperty("tern_tool_runs").EnumerateArray());
        Assert.Equal("read_file", run.GetProperty("name").GetString());
        Assert.True(run.GetProperty("ok").GetBoolean());
        Assert.Contains("the secret word is tern", run.GetProperty("output").GetString());
        Assert.True(body.GetProperty("usage").GetProperty("output_tokens").GetInt32() > 10); // both turns
    }

    [Fact]
    public async Task A_streamed_run_is_a_tern_tool_run_event_the_npm_client_passes_over()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script(ReadNotes, "The word is tern.");
        var events = await MessagesSse.EventsAsync(fixture, Request + """, "stream": true}""");
        var run = events.Single(e => e.GetProperty("type").GetString() == "tern_tool_run").GetProperty("run");
        Assert.Equal("read_file", run.GetProperty("name").GetString());
        Assert.Contains("the secret word is tern", run.GetProperty("output").GetString());
        Assert.Equal("The word is tern.", MessagesSse.Text(events).Trim());

        await Npm.EnsureInstalledAsync();
        fixture.Script(ReadNotes, "The word is tern.");
        string request = Convert.ToBase64String(Encoding.UTF8.GetBytes(Request + "}"));
        var (code, output, errors) = await Npm.RunAsync("node", $"anthropic-stream.mjs {fixture.Server.Address} {request}");
        Assert.True(code == 0, output + errors);
        var result = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal("The word is tern.", result.GetProperty("text").GetString()!.Trim());
        Assert.Equal("end_turn", result.GetProperty("message").GetProperty("stop_reason").GetString());
        Assert.Single(result.GetProperty("message").GetProperty("content").EnumerateArray());
    }

    [Fact]
    public async Task The_dotnet_sdk_streams_past_a_tern_tool_run_event()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script(ReadNotes, "The word is tern.");
        var client = new Anthropic.AnthropicClient(new Anthropic.Core.ClientOptions { BaseUrl = fixture.Server.Address, ApiKey = "unused", MaxRetries = 0 });
        var request = new Anthropic.Models.Messages.MessageCreateParams
        {
            Model = "m",
            MaxTokens = 64,
            Messages = [new Anthropic.Models.Messages.UserMessageParam("What is in notes.txt?")],
        };
        string text = "";
        bool stopped = false;
        await foreach (var e in client.Messages.CreateStreaming(request, TestContext.Current.CancellationToken))
        {
            if (e.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var t))
                text += t.Text;
            stopped |= e.TryPickStop(out _);
        }

        Assert.Equal("The word is tern.", text.Trim());
        Assert.True(stopped);
    }
}
