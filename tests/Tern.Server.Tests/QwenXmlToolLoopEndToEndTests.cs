using System.Text;
using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>The scripted tool server with the Qwen3.5 chat template (the one Qwen3.6 builds on): its calls are XML.</summary>
public sealed class ScriptedQwen35ToolServerFixture : ScriptedToolServerFixture
{
    protected override string TemplatePath => "templates/2026/Qwen-Qwen3.5-4B.jinja";
}

public sealed class QwenXmlToolLoopEndToEndTests(ScriptedQwen35ToolServerFixture fixture) : IClassFixture<ScriptedQwen35ToolServerFixture>
{
    [Fact]
    public async Task A_streamed_chat_runs_an_xml_call_with_a_typed_argument_and_streams_the_answer()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "line one\nthe secret word is tern\n");
        // the Qwen3.5 prompt opens a <think> block (thinking is on by default): each scripted turn closes it first
        fixture.Script(
            "</think>\n\nReading it.\n\n<tool_call>\n<function=read_file>\n<parameter=path>\nnotes.txt\n</parameter>\n<parameter=start_line>\n2\n</parameter>\n</function>\n</tool_call>",
            "</think>\n\nThe word is tern.");
        string text = await StreamAsync("""{"messages": [{"role": "user", "content": "What is in notes.txt?"}], "stream": true}""");
        var deltas = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith("data: {", StringComparison.Ordinal))
            .SelectMany(l => JsonDocument.Parse(l["data: ".Length..]).RootElement.Clone().GetProperty("choices").EnumerateArray())
            .Select(c => c.GetProperty("delta")).ToList();

        var run = deltas.Where(d => d.TryGetProperty("tern_tool_calls", out _)).Select(d => d.GetProperty("tern_tool_calls")[0]).Single();
        Assert.Equal("read_file", run.GetProperty("name").GetString());
        Assert.True(run.GetProperty("ok").GetBoolean(), run.GetProperty("output").GetString());
        Assert.Contains("the secret word is tern", run.GetProperty("output").GetString());
        Assert.DoesNotContain("line one", run.GetProperty("output").GetString());
        string content = string.Concat(deltas.Where(d => d.TryGetProperty("content", out var v) && v.ValueKind == JsonValueKind.String)
            .Select(d => d.GetProperty("content").GetString()));
        Assert.StartsWith("Reading it.", content.TrimStart(), StringComparison.Ordinal); // the text of both turns, the call between them left out
        Assert.EndsWith("The word is tern.", content, StringComparison.Ordinal);
        Assert.DoesNotContain("<tool_call>", text);
        Assert.DoesNotContain("<function=", text);
    }

    [Fact]
    public async Task A_call_to_a_client_tool_comes_back_with_arguments_typed_by_its_schema()
    {
        fixture.Script("</think>\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\n1984\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>");
        string request = """
            {"messages": [{"role": "user", "content": "Weather in 1984?"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
               "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}]}
            """;
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", request);

        Assert.True(status == 200, body.ToString());
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var function = choice.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function");
        Assert.Equal("get_weather", function.GetProperty("name").GetString());
        Assert.Equal("{\"city\":\"1984\",\"days\":3}", function.GetProperty("arguments").GetString());
    }

    private async Task<string> StreamAsync(string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, text);
        Assert.EndsWith("data: [DONE]\n\n", text);
        return text;
    }
}
