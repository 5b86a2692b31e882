using System.Text.Json.Nodes;
using Tern.Chat.Reasoning;
using Tern.Chat.ToolCalls;
using Tern.Runtime.Serving;
using Tern.Tools;

namespace Tern.Server;

/// <summary>Something that happened during one chat request, in the order it happened.</summary>
internal abstract record AgentEvent;

/// <summary>Assistant text the client may see (tool-call markup never appears here).</summary>
internal sealed record AgentContent(string Text) : AgentEvent;

/// <summary>The model's reasoning, split off before tool-call parsing (it never holds calls).</summary>
internal sealed record AgentReasoning(string Text) : AgentEvent;

/// <summary>A call to a client tool, sent as soon as the model finished writing it; <paramref name="Index"/> counts the request's client calls.</summary>
internal sealed record AgentClientCall(ToolCall Call, int Index) : AgentEvent;

/// <summary>A built-in tool ran, with its result (sent to the model as a tool message).</summary>
internal sealed record AgentToolRun(ToolCall Call, ToolResult Result) : AgentEvent;

/// <summary>One model turn: its stream of text deltas then the finish, and the splitter for its reasoning (null: none).</summary>
internal sealed record ModelTurn(IAsyncEnumerable<GenerationEvent> Events, ReasoningSplitter? Reasoning);

/// <summary>Starts one model turn for these messages.</summary>
internal delegate Task<ModelTurn> TurnGenerator(JsonArray messages, CancellationToken cancellation);

/// <summary>How a chat request ended (<paramref name="Reasoning"/>: the last turn's).</summary>
internal sealed record AgentResult(string Content, IReadOnlyList<ToolCall> ClientCalls, IReadOnlyList<AgentToolRun> ToolRuns, GenerationFinished Finished, GenerationUsage Usage, string Reasoning = "")
{
    public string FinishReason => ClientCalls.Count > 0 ? "tool_calls" : Finished.Reason == Tern.Runtime.Serving.FinishReason.Length ? "length" : "stop";
}

/// <summary>
/// The tool loop of one chat request: each model turn is parsed for tool calls as it streams (the parser is chosen
/// from the chat template); calls to built-in tools run in the sandbox and their results go back to the model as
/// tool messages, up to <paramref name="maxSteps"/> rounds (only the ones the request offers: <paramref name="builtins"/>); calls to tools the client supplied end the request with
/// finish_reason "tool_calls". A malformed call goes back to the model as a tool error. <paramref name="tools"/> (all
/// the tools the model sees) type the arguments of formats that write them as bare text. A turn's reasoning block is
/// split off before parsing, so calls inside it are never made; it goes back to the model as the assistant message's
/// reasoning_content, or, with <paramref name="reasoningInContent"/> (--reasoning-format none), stays in the content verbatim.
/// Without <paramref name="parallelToolCalls"/> (OpenAI's <c>parallel_tool_calls: false</c>), only a turn's first call is made.
/// With no tools at all (neither <paramref name="builtins"/> nor <paramref name="tools"/>) nothing is parsed: one turn,
/// its text as the model wrote it, its reasoning split off.
/// </summary>
internal sealed class AgentLoop(BuiltinTools? builtins, ToolCallFormat format, int maxSteps, string requestId, JsonArray? tools = null,
    bool reasoningInContent = false, bool parallelToolCalls = true)
{
    public async Task<AgentResult> RunAsync(JsonArray messages, TurnGenerator generate, Func<AgentEvent, Task> onEvent, CancellationToken cancellation)
    {
        var runs = new List<AgentToolRun>();
        int promptTokens = 0, cachedTokens = 0, completionTokens = 0;
        for (int step = 0; ; step++)
        {
            var parser = builtins is null && tools is null ? null : ToolCallParser.Create(format, tools: tools);
            var content = new System.Text.StringBuilder();
            var reasoning = new System.Text.StringBuilder();
            var turn = await generate(messages, cancellation);
            int turnCalls = 0, clientIndex = 0;
            GenerationFinished? finished = null;
            await foreach (var e in turn.Events.WithCancellation(cancellation))
            {
                if (e is GenerationDelta d)
                    await Split(turn.Reasoning is null ? new ReasoningUpdate("", d.Text) : turn.Reasoning.Push(d.Text));
                else if (e is GenerationFinished f)
                    finished = f;
            }

            if (turn.Reasoning is not null)
                await Split(turn.Reasoning.Finish());
            await Emit(parser?.Finish() ?? ToolCallUpdate.Empty);
            if (finished is null)
                throw new InvalidOperationException("the model's turn ended without a finish");
            promptTokens += finished.Usage.PromptTokens;
            cachedTokens += finished.Usage.CachedTokens;
            completionTokens += finished.Usage.CompletionTokens;
            var usage = new GenerationUsage(promptTokens, cachedTokens, completionTokens);

            if (parser is null)
                return new AgentResult(content.ToString(), [], runs, finished, usage, reasoning.ToString());
            var made = parallelToolCalls ? parser.Calls : parser.Calls.Take(1).ToList();
            var clientCalls = made.Where(c => builtins?.Contains(c.Name) != true).ToList();
            bool builtinWork = made.Any(c => builtins?.Contains(c.Name) == true) || (builtins is not null && parser.Errors.Count > 0);
            if (clientCalls.Count > 0 || !builtinWork || step + 1 >= maxSteps)
                return new AgentResult(content.ToString(), clientCalls, runs, finished, usage, reasoning.ToString());

            // Run the built-in calls and give the model their results.
            // Content is a string even when empty: templates such as Qwen3 test it with `in`.
            var assistant = new JsonObject { ["role"] = "assistant", ["content"] = content.ToString() };
            if (reasoning.Length > 0)
                assistant["reasoning_content"] = reasoning.ToString();
            var calls = new JsonArray();
            var results = new List<JsonObject>();
            foreach (var call in made)
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

            async Task Split(ReasoningUpdate update)
            {
                if (update.Reasoning.Length > 0 && reasoningInContent)
                {
                    content.Append(update.Reasoning);
                    await onEvent(new AgentContent(update.Reasoning));
                }
                else if (update.Reasoning.Length > 0)
                {
                    reasoning.Append(update.Reasoning);
                    await onEvent(new AgentReasoning(update.Reasoning));
                }
                if (update.Content.Length > 0)
                    await Emit(parser?.Push(update.Content) ?? new ToolCallUpdate(update.Content, [], []));
            }

            async Task Emit(ToolCallUpdate update)
            {
                if (update.Content.Length > 0)
                {
                    content.Append(update.Content);
                    await onEvent(new AgentContent(update.Content));
                }

                foreach (var call in update.Calls)
                {
                    if ((parallelToolCalls || turnCalls++ == 0) && builtins?.Contains(call.Name) != true)
                        await onEvent(new AgentClientCall(call, clientIndex++));
                }
            }
        }
    }
}
