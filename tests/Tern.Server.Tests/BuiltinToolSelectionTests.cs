using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// The request field <c>tern_tools</c> narrows or switches off the built-in tools for one request (the prompt carries
/// only those, and only their calls run), and GET /props shows the tool set and its prompt cost. The scripted server
/// serves every built-in tool with the Qwen3 template.
/// </summary>
public sealed class BuiltinToolSelectionTests(ScriptedToolServerFixture fixture) : IClassFixture<ScriptedToolServerFixture>
{
    private const string Hi = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
    private static readonly string[] All = ["read_file", "write_file", "edit_file", "grep", "shell", "time", "file_glob_search", "get_info"];

    [Fact]
    public async Task The_prompt_carries_every_built_in_tool_by_default_only_the_named_ones_or_none()
    {
        string all = await RenderAsync("");
        string two = await RenderAsync(""", "tern_tools": ["read_file", "grep"]""");
        string none = await RenderAsync(""", "tern_tools": []""");
        string off = await RenderAsync(""", "tern_tools": false""");

        Assert.All(All, name => Assert.Contains($"\"name\": \"{name}\"", all, StringComparison.Ordinal));
        Assert.Equal(["grep", "read_file"], All.Where(name => two.Contains($"\"name\": \"{name}\"", StringComparison.Ordinal)).Order());
        Assert.DoesNotContain("<tools>", none, StringComparison.Ordinal);
        Assert.Equal(none, off);
    }

    [Fact]
    public async Task Prompt_tokens_shrink_with_the_tool_set_and_props_shows_the_cost()
    {
        fixture.Script("Hello.", "Hello.", "Hello.");
        int all = await PromptTokensAsync("");
        int one = await PromptTokensAsync(""", "tern_tools": ["time"]""");
        int none = await PromptTokensAsync(""", "tern_tools": []""");
        var (status, text) = await fixture.GetAsync("/props");

        Assert.True(none < one && one < all, $"{none} {one} {all}");
        Assert.Equal(200, status);
        var tools = JsonDocument.Parse(text).RootElement.GetProperty("tools");
        Assert.Equal(All, tools.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(all - none, tools.GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task A_call_to_a_tool_the_request_left_out_does_not_run()
    {
        File.WriteAllText(fixture.Workspace.File("left-out.txt"), "secret");
        fixture.Script("<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"left-out.txt\"}}\n</tool_call>");

        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", "{" + Hi + """, "tern_tools": ["time"]}""");

        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString()); // the client's to run, not the server's
        Assert.Equal("read_file", choice.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function").GetProperty("name").GetString());
        Assert.False(choice.GetProperty("message").TryGetProperty("tern_tool_calls", out _)); // nothing ran on the server
    }

    [Theory]
    [InlineData("""["read_file", "rm_rf"]""", "'tern_tools' names 'rm_rf', which is not an enabled built-in tool")]
    [InlineData("""["READ_FILE"]""", "'tern_tools' names 'READ_FILE'")]
    [InlineData("""[1]""", "'tern_tools' must hold tool names")]
    [InlineData("\"read_file\"", "'tern_tools' must be an array of built-in tool names or a boolean")]
    [InlineData("{}", "'tern_tools' must be an array")]
    public async Task Bad_values_are_a_400_naming_the_field(string value, string message)
    {
        foreach (string path in new[] { "/v1/chat/completions", "/apply-template" })
        {
            var (status, body, _) = await fixture.PostAsync(path, "{" + Hi + $", \"tern_tools\": {value}}}");

            Assert.Equal(400, status);
            Assert.Equal("tern_tools", body.GetProperty("error").GetProperty("param").GetString());
            Assert.StartsWith(message, body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Responses_and_messages_take_the_field_too()
    {
        fixture.Script("Hello.", "Hello.");
        const string input = """{"input": "hi", "max_output_tokens": 4""";
        var (s1, all, _) = await fixture.PostAsync("/v1/responses", input + "}");
        var (s2, none, _) = await fixture.PostAsync("/v1/responses", input + """, "tern_tools": []}""");
        var (s3, bad, _) = await fixture.PostAsync("/v1/responses", input + """, "tern_tools": ["nope"]}""");
        Assert.Equal((200, 200, 400), (s1, s2, s3));
        Assert.True(none.GetProperty("usage").GetProperty("input_tokens").GetInt32() < all.GetProperty("usage").GetProperty("input_tokens").GetInt32());
        Assert.Contains("'tern_tools'", bad.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        const string messages = """{"model": "m", "messages": [{"role": "user", "content": "hi"}]""";
        var (c1, allCount, _) = await fixture.PostAsync("/v1/messages/count_tokens", messages + "}");
        var (c2, oneCount, _) = await fixture.PostAsync("/v1/messages/count_tokens", messages + """, "tern_tools": ["time"]}""");
        var (c3, badCount, _) = await fixture.PostAsync("/v1/messages/count_tokens", messages + """, "tern_tools": ["nope"]}""");
        Assert.Equal((200, 200, 400), (c1, c2, c3));
        Assert.True(oneCount.GetProperty("input_tokens").GetInt32() < allCount.GetProperty("input_tokens").GetInt32());
        Assert.Contains("'tern_tools'", badCount.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private async Task<string> RenderAsync(string extra)
    {
        var (status, body, _) = await fixture.PostAsync("/apply-template", "{" + Hi + extra + "}");
        Assert.True(status == 200, body.ToString());
        return body.GetProperty("prompt").GetString()!;
    }

    private async Task<int> PromptTokensAsync(string extra)
    {
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", "{" + Hi + extra + "}");
        Assert.True(status == 200, body.ToString());
        return body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
    }
}

/// <summary>Without --tools there are no built-in tools to ask for; switching them off is harmless.</summary>
public sealed class BuiltinToolSelectionWithoutToolsTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Asking_for_tools_is_a_400_switching_them_off_is_fine_and_props_shows_none()
    {
        var (asked, body, _) = await fixture.PostAsync("/apply-template", """{"messages": [{"role": "user", "content": "hi"}], "tern_tools": ["read_file"]}""");
        var (off, _, _) = await fixture.PostAsync("/apply-template", """{"messages": [{"role": "user", "content": "hi"}], "tern_tools": false}""");
        var (_, props) = await fixture.GetAsync("/props");

        Assert.Equal(400, asked);
        Assert.Equal("tern_tools", body.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("they are off", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(200, off);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(props).RootElement.GetProperty("tools").ValueKind);
    }
}
