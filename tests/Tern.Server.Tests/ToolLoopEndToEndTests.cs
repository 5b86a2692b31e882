using System.Text;
using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>
/// llama-tiny with the real Qwen3 chat template and all built-in tools. No model that calls tools is available, so
/// the engine's token override stands in for the model's token choice only: it emits the tokens of a scripted
/// reply; detokenizing, tool-call parsing, the sandbox, the loop, streaming and usage are the production path.
/// </summary>
public class ScriptedToolServerFixture : ServerFixture
{
    private readonly Queue<int[]> _turns = new();
    private int[] _current = [];

    internal TempDirectory Workspace { get; } = new();

    protected virtual string TemplatePath => "templates/Qwen-Qwen3.jinja";

    protected override ServerOptions Options => new()
    {
        ModelPath = SharedData.Path("models/llama-tiny-q8_0.gguf"),
        ChatTemplateFile = SharedData.Path(TemplatePath),
        Port = 0,
        Parallel = 2,
        Tools = "all",
        Workspace = Workspace.FullPath,
    };

    /// <summary>The next model turns, as text; each ends with end-of-sequence.</summary>
    public void Script(params string[] replies)
    {
        var model = Server.Model!;
        foreach (string reply in replies)
            _turns.Enqueue([.. model.Tokenizer.Encode(reply, addSpecial: false), model.Tokenizer.Eos]);
        model.Engine.TokenOverride = (_, generated) =>
        {
            if (generated == 0)
                _current = _turns.Count > 0 ? _turns.Dequeue() : [model.Tokenizer.Eos];
            return generated < _current.Length ? _current[generated] : model.Tokenizer.Eos;
        };
    }
}

public sealed class ToolLoopEndToEndTests(ScriptedToolServerFixture fixture) : IClassFixture<ScriptedToolServerFixture>
{
    private const string ReadNotes = "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"notes.txt\"}}\n</tool_call>";

    [Fact]
    public async Task A_streamed_tool_chat_whose_prompt_cannot_fit_ends_with_context_length_exceeded()
    {
        string content = string.Concat(Enumerable.Repeat("once upon a time ", 3000));
        var (status, body, response) = await fixture.PostAsync("/v1/chat/completions",
            System.Text.Json.JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content } }, stream = true }));

        // Before the stream starts, a 400; once the tool loop has started it, the stream's last event: the same code either way.
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var error = status == 400 ? body.GetProperty("error")
            : System.Text.Json.JsonDocument.Parse(text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Last(e => e.StartsWith("data: {", StringComparison.Ordinal))["data: ".Length..]).RootElement.GetProperty("error");
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_streamed_chat_runs_the_built_in_tool_and_streams_the_answer_and_usage()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script(ReadNotes, "The word is tern.");
        var events = await StreamAsync("""{"messages": [{"role": "user", "content": "What is in notes.txt?"}], "stream": true, "stream_options": {"include_usage": true}}""");

        var run = events.SelectMany(e => e.GetProperty("choices").EnumerateArray())
            .Select(c => c.GetProperty("delta")).Where(d => d.TryGetProperty("tern_tool_calls", out _))
            .Select(d => d.GetProperty("tern_tool_calls")[0]).Single();
        Assert.Equal("read_file", run.GetProperty("name").GetString());
        Assert.True(run.GetProperty("ok").GetBoolean());
        Assert.Contains("the secret word is tern", run.GetProperty("output").GetString());

        string content = string.Concat(events.SelectMany(e => e.GetProperty("choices").EnumerateArray())
            .Select(c => c.GetProperty("delta")).Where(d => d.TryGetProperty("content", out var v) && v.ValueKind == JsonValueKind.String)
            .Select(d => d.GetProperty("content").GetString()));
        Assert.Equal("The word is tern.", content.Trim());
        Assert.DoesNotContain("<tool_call>", content);
        Assert.Contains(events, e => e.GetProperty("choices").EnumerateArray().Any(c => c.GetProperty("finish_reason").ValueKind == JsonValueKind.String
            && c.GetProperty("finish_reason").GetString() == "stop"));
        var usage = events.Last(e => e.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object).GetProperty("usage");
        Assert.True(usage.GetProperty("completion_tokens").GetInt32() > 10); // both turns
    }

    [Fact]
    public async Task A_path_traversal_through_the_model_loop_is_refused_and_reported()
    {
        fixture.Script("<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"../../../../etc/passwd\"}}\n</tool_call>", "I cannot.");
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Read /etc/passwd"}]}""");
        Assert.True(status == 200, body.ToString());
        var message = body.GetProperty("choices")[0].GetProperty("message");
        Assert.True(message.TryGetProperty("tern_tool_calls", out _), body.GetRawText());
        var run = message.GetProperty("tern_tool_calls")[0];
        Assert.False(run.GetProperty("ok").GetBoolean());
        Assert.DoesNotContain("root:", run.GetProperty("output").GetString());
        Assert.Equal("I cannot.", message.GetProperty("content").GetString()!.Trim());
    }

    public static TheoryData<string, string> LoopAttacks() => new()
    {
        { """{"name": "read_file", "arguments": {"path": "/proc/self/root/etc/passwd"}}""", "root:" },
        { """{"name": "write_file", "arguments": {"path": "../../tern-loop-escape.txt", "content": "x"}}""", "wrote" },
        { """{"name": "grep", "arguments": {"pattern": "root", "path": "/etc"}}""", "root:" },
        { """{"name": "shell", "arguments": {"command": "cat /etc/shadow; echo x > /usr/tern-loop-escape; ls /root"}}""", "root:" },
    };

    [Theory]
    [MemberData(nameof(LoopAttacks))]
    public async Task Attacks_through_the_model_loop_are_contained(string call, string forbidden)
    {
        fixture.Script($"<tool_call>\n{call}\n</tool_call>", "Done.");
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages": [{"role": "user", "content": "go"}]}""");
        Assert.True(status == 200, body.ToString());
        var run = body.GetProperty("choices")[0].GetProperty("message").GetProperty("tern_tool_calls")[0];
        Assert.DoesNotContain(forbidden, run.GetProperty("output").GetString());
        Assert.False(File.Exists("/usr/tern-loop-escape"));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(fixture.Workspace.FullPath)!)!, "tern-loop-escape.txt")));
        Assert.Equal(200, (await fixture.GetAsync("/health")).Status);
    }

    [Fact]
    public async Task A_call_to_a_client_tool_comes_back_as_tool_calls()
    {
        fixture.Script("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        string request = """
            {"messages": [{"role": "user", "content": "Weather in Paris?"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}
            """;
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", request);
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var call = choice.GetProperty("message").GetProperty("tool_calls")[0];
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("Paris", JsonDocument.Parse(call.GetProperty("function").GetProperty("arguments").GetString()!).RootElement.GetProperty("city").GetString());
    }

    private Task<List<JsonElement>> StreamAsync(string body) => Sse.ChunksAsync(fixture, body);
}
