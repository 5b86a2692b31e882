using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Tern.Chat.Reasoning;
using Tern.Chat.ToolCalls;
using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;
using Tern.Tools;

namespace Tern.Server.Tests;

/// <summary>The tool loop with scripted model turns (the tiny test models cannot be made to call tools).</summary>
public sealed class AgentLoopTests : IDisposable
{
    private readonly TempDirectory _workspace = new();
    private readonly TempDirectory _logs = new();
    private readonly ToolSet _tools;

    public AgentLoopTests()
    {
        File.WriteAllText(_workspace.File("notes.txt"), "hello from the workspace\n");
        _tools = ToolSet.Create("all", new ToolSetOptions { WorkspaceRoot = _workspace.FullPath, AuditLogPath = _logs.File("audit.jsonl") });
    }

    [Fact]
    public async Task Built_in_calls_run_and_their_results_go_back_to_the_model()
    {
        var seen = new List<JsonArray>();
        var turns = new Queue<string>([
            "Let me look.<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"notes.txt\"}}\n</tool_call>",
            "The file says hello.",
        ]);
        var events = new List<AgentEvent>();
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.Hermes, maxSteps: 8, "req-1");
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, seen), e => { events.Add(e); return Task.CompletedTask; }, TestContext.Current.CancellationToken);

        Assert.Equal("The file says hello.", result.Content);
        Assert.Equal("stop", result.FinishReason);
        var run = Assert.Single(result.ToolRuns);
        Assert.True(run.Result.Ok);
        Assert.Contains("hello from the workspace", run.Result.Output);
        // The second turn saw the assistant's call and the tool's result.
        var second = seen[1];
        Assert.Equal("assistant", second[1]!["role"]!.GetValue<string>());
        Assert.Equal("read_file", second[1]!["tool_calls"]![0]!["function"]!["name"]!.GetValue<string>());
        Assert.Equal("tool", second[2]!["role"]!.GetValue<string>());
        Assert.Contains("hello from the workspace", second[2]!["content"]!.GetValue<string>());
        // The client saw text and the run, never the markup.
        string streamed = string.Concat(events.OfType<AgentContent>().Select(c => c.Text));
        Assert.DoesNotContain("<tool_call>", streamed);
        Assert.Single(events.OfType<AgentToolRun>());
        await _tools.AuditLog!.FlushAsync(TestContext.Current.CancellationToken);
        Assert.Contains("\"tool\":\"read_file\"", File.ReadAllText(_logs.File("audit.jsonl")));
        Assert.Equal(6, result.Usage.CompletionTokens); // 3 per scripted turn
    }

    /// <summary>parallel_tool_calls false: a turn that writes two calls makes only the first.</summary>
    [Theory]
    [InlineData(true, 2)]
    [InlineData(false, 1)]
    public async Task Parallel_tool_calls_false_keeps_the_first_call(bool parallel, int expected)
    {
        var turns = new Queue<string>(["<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>"]);
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.Hermes, maxSteps: 8, "req-p", parallelToolCalls: parallel);
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, []), _ => Task.CompletedTask, TestContext.Current.CancellationToken);

        Assert.Equal(expected, result.ClientCalls.Count);
        Assert.Equal("a", result.ClientCalls[0].Name);
    }

    [Fact]
    public async Task Calls_to_client_tools_end_the_request_with_tool_calls()
    {
        var turns = new Queue<string>(["<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"]);
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.Hermes, maxSteps: 8, "req-2");
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, []), _ => Task.CompletedTask, TestContext.Current.CancellationToken);
        Assert.Equal("tool_calls", result.FinishReason);
        var call = Assert.Single(result.ClientCalls);
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("{\"city\": \"Paris\"}", call.Arguments);
        Assert.Empty(result.ToolRuns);
    }

    [Fact]
    public async Task A_malformed_call_goes_back_to_the_model_as_a_tool_error()
    {
        var seen = new List<JsonArray>();
        var turns = new Queue<string>(["<tool_call>\n{\"name\": \"read_file\", \"arguments\": {oops}\n</tool_call>", "Sorry."]);
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.Hermes, maxSteps: 8, "req-3");
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, seen), _ => Task.CompletedTask, TestContext.Current.CancellationToken);
        Assert.Equal("Sorry.", result.Content);
        var toolMessage = seen[1].Last()!;
        Assert.Equal("tool", toolMessage["role"]!.GetValue<string>());
        Assert.StartsWith("error: ", toolMessage["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_sandbox_refusal_is_a_result_the_model_can_read()
    {
        var seen = new List<JsonArray>();
        var turns = new Queue<string>(["<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"../../etc/passwd\"}}\n</tool_call>", "Cannot."]);
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.Hermes, maxSteps: 8, "req-4");
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, seen), _ => Task.CompletedTask, TestContext.Current.CancellationToken);
        var run = Assert.Single(result.ToolRuns);
        Assert.False(run.Result.Ok);
        Assert.DoesNotContain("root:", run.Result.Output);
    }

    [Fact]
    public async Task The_loop_stops_after_the_step_limit()
    {
        const string call = "<tool_call>\n{\"name\": \"time\", \"arguments\": {}}\n</tool_call>";
        var turns = new Queue<string>(Enumerable.Repeat(call, 10));
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.Hermes, maxSteps: 3, "req-5");
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, []), _ => Task.CompletedTask, TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ToolRuns.Count); // the third turn's calls are not run: the limit is reached
        Assert.Equal(7, turns.Count);
    }

    [Fact]
    public async Task Qwen_xml_calls_are_typed_by_the_tool_schemas_and_run()
    {
        File.WriteAllText(_workspace.File("lines.txt"), "one\ntwo\nthree\n");
        var seen = new List<JsonArray>();
        var turns = new Queue<string>([
            "Let me look.\n\n<tool_call>\n<function=read_file>\n<parameter=path>\nlines.txt\n</parameter>\n<parameter=start_line>\n2\n</parameter>\n</function>\n</tool_call>",
            "Line two is two.",
        ]);
        var events = new List<AgentEvent>();
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.QwenXml, maxSteps: 8, "req-6", BuiltinSchemas());
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, seen), e => { events.Add(e); return Task.CompletedTask; }, TestContext.Current.CancellationToken);

        var run = Assert.Single(result.ToolRuns);
        Assert.True(run.Result.Ok, run.Result.Output); // start_line arrived as the integer the tool requires
        Assert.Contains("two", run.Result.Output);
        Assert.DoesNotContain("one", run.Result.Output);
        Assert.Equal(2, seen[1][1]!["tool_calls"]![0]!["function"]!["arguments"]!["start_line"]!.GetValue<int>());
        Assert.Equal("Line two is two.", result.Content);
        string streamed = string.Concat(events.OfType<AgentContent>().Select(c => c.Text));
        Assert.DoesNotContain("<function=", streamed);
        Assert.DoesNotContain("<tool_call>", streamed);
    }

    [Fact]
    public async Task Gemma4_calls_run_and_the_tool_response_marker_is_not_content()
    {
        File.WriteAllText(_workspace.File("lines.txt"), "one\ntwo\nthree\n");
        var turns = new Queue<string>([
            "<|tool_call>call:read_file{path:<|\"|>lines.txt<|\"|>,start_line:3}<tool_call|><|tool_response>",
            "Line three is three.",
        ]);
        var events = new List<AgentEvent>();
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.Gemma4, maxSteps: 8, "req-7", BuiltinSchemas());
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, []), e => { events.Add(e); return Task.CompletedTask; }, TestContext.Current.CancellationToken);

        var run = Assert.Single(result.ToolRuns);
        Assert.True(run.Result.Ok, run.Result.Output);
        Assert.Contains("three", run.Result.Output);
        Assert.DoesNotContain("two", run.Result.Output);
        Assert.Equal("Line three is three.", string.Concat(events.OfType<AgentContent>().Select(c => c.Text)));
    }

    [Fact]
    public async Task Qwen_xml_calls_to_client_tools_are_typed_by_the_client_schema()
    {
        var tools = JsonNode.Parse("""
            [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
              "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}]
            """)!.AsArray();
        var turns = new Queue<string>(["<tool_call>\n<function=get_weather>\n<parameter=city>\n1984\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>"]);
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.QwenXml, maxSteps: 8, "req-8", tools);
        var result = await loop.RunAsync(UserMessage(), Scripted(turns, []), _ => Task.CompletedTask, TestContext.Current.CancellationToken);

        Assert.Equal("tool_calls", result.FinishReason);
        Assert.Equal("{\"city\":\"1984\",\"days\":3}", Assert.Single(result.ClientCalls).Arguments);
    }

    [Fact]
    public async Task Reasoning_is_split_off_before_parsing_and_goes_back_to_the_model_as_reasoning_content()
    {
        File.WriteAllText(_workspace.File("lines.txt"), "one\ntwo\n");
        var seen = new List<JsonArray>();
        var turns = new Queue<string>([
            "Not <tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"nope.txt\"}}</tool_call> but lines.txt.</think>\n\n"
                + "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"lines.txt\"}}</tool_call>",
            "Done.</think>Two lines.",
        ]);
        var events = new List<AgentEvent>();
        var loop = new AgentLoop(BuiltinTools.All(_tools), ToolCallFormat.Hermes, maxSteps: 8, "req-9");
        TurnGenerator generate = (messages, cancellation) =>
            Task.FromResult(new ModelTurn(Turn(turns, seen, messages, cancellation), new ReasoningSplitter(ReasoningMarkers.Think, openedByPrompt: true)));
        var result = await loop.RunAsync(UserMessage(), generate, e => { events.Add(e); return Task.CompletedTask; }, TestContext.Current.CancellationToken);

        var run = Assert.Single(result.ToolRuns);
        Assert.Equal("{\"path\":\"lines.txt\"}", run.Call.Arguments.Replace(" ", ""));
        Assert.Equal("Two lines.", result.Content);
        Assert.Equal("Done.", result.Reasoning);
        Assert.StartsWith("Not <tool_call>", seen[1][1]!["reasoning_content"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("Not <tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"nope.txt\"}}</tool_call> but lines.txt.Done.",
            string.Concat(events.OfType<AgentReasoning>().Select(r => r.Text)));
    }

    private JsonArray BuiltinSchemas() => [.. _tools.Schemas.Select(s => JsonNode.Parse(s.GetRawText()))];

    private static JsonArray UserMessage() => [new JsonObject { ["role"] = "user", ["content"] = "What is in notes.txt?" }];

    /// <summary>Each turn streams the next scripted reply in small pieces, then a finish of 3 tokens.</summary>
    private static TurnGenerator Scripted(Queue<string> turns, List<JsonArray> seen) =>
        (messages, cancellation) => Task.FromResult(new ModelTurn(Turn(turns, seen, messages, cancellation), null));

    private static async IAsyncEnumerable<GenerationEvent> Turn(Queue<string> turns, List<JsonArray> seen, JsonArray messages, [EnumeratorCancellation] CancellationToken cancellation)
    {
        seen.Add((JsonArray)messages.DeepClone());
        string text = turns.Dequeue();
        for (int i = 0; i < text.Length; i += 5)
        {
            await Task.Yield();
            yield return new GenerationDelta(text.Substring(i, Math.Min(5, text.Length - i)), []);
        }

        yield return new GenerationFinished(FinishReason.Stop, StopReason.EndOfGeneration, null, new GenerationUsage(10, 0, 3),
            new GenerationTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, 10, 3), 1);
    }

    public void Dispose()
    {
        _tools.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _workspace.Dispose();
        _logs.Dispose();
    }
}
