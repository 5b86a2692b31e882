using System.Text.Json.Nodes;
using Tern.Chat.ToolCalls;
using Tern.Runtime.Serving;
using Tern.Tools;

namespace Tern.Server;

/// <summary>Something that happened during one chat request, in the order it happened.</summary>
internal abstract record AgentEvent;

/// <summary>Assistant text the client may see (tool-call markup never appears here).</summary>
internal sealed record AgentContent(string Text) : AgentEvent;

/// <summary>A built-in tool ran, with its result (sent to the model as a tool message).</summary>
internal sealed record AgentToolRun(ToolCall Call, ToolResult Result) : AgentEvent;

/// <summary>One model turn as a stream: text deltas, then the finish.</summary>
internal delegate IAsyncEnumerable<GenerationEvent> TurnGenerator(JsonArray messages, CancellationToken cancellation);

/// <summary>How a chat request ended.</summary>
internal sealed record AgentResult(string Content, IReadOnlyList<ToolCall> ClientCalls, IReadOnlyList<AgentToolRun> ToolRuns, GenerationFinished Finished, GenerationUsage Usage)
{
    public string FinishReason => ClientCalls.Count > 0 ? "tool_calls" : Finished.Reason == Tern.Runtime.Serving.FinishReason.Length ? "length" : "stop";
}

/// <summary>
/// The tool loop of one chat request: each model turn is parsed for tool calls as it streams (the parser is chosen
/// from the chat template); calls to built-in tools run in the sandbox and their results go back to the model as
/// tool messages, up to <paramref name="maxSteps"/> rounds; calls to tools the client supplied end the request with
/// finish_reason "tool_calls". A malformed call goes back to the model as a tool error. <paramref name="tools"/> (all
/// the tools the model sees) type the arguments of formats that write them as bare text.
/// </summary>
internal sealed class AgentLoop(ToolSet? builtins, ToolCallFormat format, int maxSteps, string requestId, JsonArray? tools = null)
{
    public async Task<AgentResult> RunAsync(JsonArray messages, TurnGenerator generate, Func<AgentEvent, Task> onEvent, CancellationToken cancellation)
    {
        var runs = new List<AgentToolRun>();
        int promptTokens = 0, cachedTokens = 0, completionTokens = 0;
        for (int step = 0; ; step++)
        {
            var parser = ToolCallParser.Create(format, tools: tools);
            var content = new System.Text.StringBuilder();
            GenerationFinished? finished = null;
            await foreach (var e in generate(messages, cancellation).WithCancellation(cancellation))
            {
                if (e is GenerationDelta d)
                    await Emit(parser.Push(d.Text));
                else if (e is GenerationFinished f)
                    finished = f;
            }

            await Emit(parser.Finish());
            if (finished is null)
                throw new InvalidOperationException("the model's turn ended without a finish");
            promptTokens += finished.Usage.PromptTokens;
            cachedTokens += finished.Usage.CachedTokens;
            completionTokens += finished.Usage.CompletionTokens;
            var usage = new GenerationUsage(promptTokens, cachedTokens, completionTokens);

            var clientCalls = parser.Calls.Where(c => builtins?.Contains(c.Name) != true).ToList();
            bool builtinWork = parser.Calls.Any(c => builtins?.Contains(c.Name) == true) || (builtins is not null && parser.Errors.Count > 0);
            if (clientCalls.Count > 0 || !builtinWork || step + 1 >= maxSteps)
                return new AgentResult(content.ToString(), clientCalls, runs, finished, usage);

            // Run the built-in calls and give the model their results.
            // Content is a string even when empty: templates such as Qwen3 test it with `in`.
            var assistant = new JsonObject { ["role"] = "assistant", ["content"] = content.ToString() };
            var calls = new JsonArray();
            var results = new List<JsonObject>();
            foreach (var call in parser.Calls)
            {
                calls.Add(call.ToJson(argumentsAsObject: true));
                var result = await builtins!.InvokeAsync(call.Name, call.Arguments, requestId, cancellation);
                var run = new AgentToolRun(call, result);
                runs.Add(run);
                await onEvent(run);
                results.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = call.Id, ["name"] = call.Name, ["content"] = result.Output });
            }

            foreach (var error in parser.Errors)
                results.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = error.Id, ["name"] = error.Name ?? "unknown", ["content"] = "error: " + error.Message });
            if (calls.Count > 0)
                assistant["tool_calls"] = calls;
            messages.Add(assistant);
            foreach (var r in results)
                messages.Add(r);

            async Task Emit(ToolCallUpdate update)
            {
                if (update.Content.Length == 0)
                    return;
                content.Append(update.Content);
                await onEvent(new AgentContent(update.Content));
            }
        }
    }
}
