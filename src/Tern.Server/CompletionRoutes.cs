using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tern.Chat.Reasoning;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>POST /v1/chat/completions, /v1/completions and /apply-template.</summary>
internal sealed class CompletionRoutes(TernServer server)
{
    public async Task ChatAsync(HttpContext http)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        RequestFields.Check(r, RequestFields.Chat, "/v1/chat/completions");
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
        var messages = ChatMessages.Read(r);
        var options = ChatOptions.Read(r);
        var tools = ChatMessages.Tools(r);
        var builtins = BuiltinTools.Read(r, server.Tools);
        var kwargs = options.WithThinking(ChatMessages.TemplateKwargs(r));
        var parameters = CompletionParameters.Read(r, model.Defaults, model.VocabSize, chat: true, model.Engine.Parallel);
        if (options.ToolChoice == ToolChoice.Required && tools is null && builtins is null)
            throw ApiException.BadRequest("'tool_choice' forces a tool call, but the request has no 'tools'", "tool_choice");
        if (options.ToolChoice == ToolChoice.None || (tools is null && builtins is null))
        {
            tools = null;
            var prompt = await model.Template.TokensAsync(messages, tools, kwargs, http.RequestAborted);
            var reasoning = server.Options.ReasoningFormat == ReasoningFormat.None ? null : prompt.Splitter(keepMarkup: false);
            await RunAsync(http, model, prompt.Tokens, parameters, chat: true, reasoning);
            return;
        }

        await RunWithToolsAsync(http, model, messages, tools, builtins, kwargs, parameters, options);
    }

    /// <summary>A chat request with tools: the client's and/or the built-in ones, run through the <see cref="AgentLoop"/>.</summary>
    private async Task RunWithToolsAsync(HttpContext http, ServedModel model, JsonArray messages, JsonArray? clientTools, BuiltinTools? builtins,
        IReadOnlyDictionary<string, JsonNode?>? kwargs, CompletionParameters p, ChatOptions options)
    {
        var tools = builtins?.AddSchemas(clientTools) ?? clientTools!;
        var format = model.Template.ToolCallFormat;
        var forced = options.ToolChoice == ToolChoice.Required ? new ForcedCall(format, tools, options.ForcedFunction, options.ParallelToolCalls).Checked() : null;
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var shape = new ResponseShape(id, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), model.Name, chat: true, logprobs: false, model.Tokenizer);
        server.Metrics.Request();

        bool reasoningInContent = server.Options.ReasoningFormat == ReasoningFormat.None;
        // "strict": true tools: their calls are generated under a lazy grammar (from the call's opening markup on)
        var strict = p.Grammar is null ? ToolCallGrammar.Lazy(format, tools, ChatMessages.StrictTools(clientTools)) : null;
        var turns = new TurnStarter(model, new GenerationRequest
        {
            Id = id, PromptTokens = [], Sampling = p.Sampling, MaxTokens = p.MaxTokens, Stop = p.Stop,
            Grammar = p.Grammar ?? strict?.Grammar, GrammarTrigger = strict?.Trigger, Slot = p.Slot,
        }, tools, kwargs, keepMarkup: reasoningInContent, forced, metrics: server.Metrics);
        var loop = new AgentLoop(builtins, format, server.Options.MaxToolSteps, id, tools, reasoningInContent, options.ParallelToolCalls);
        var sse = p.Stream ? new SseWriter(http.Response) : null;
        if (sse is not null)
            await sse.WriteAsync(shape.Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null, null), http.RequestAborted);
        var result = await loop.RunAsync(messages, turns.StartAsync, async e =>
        {
            if (sse is null)
                return;
            if (e is AgentClientCall call)
            {
                foreach (var piece in ResponseShape.StreamedCall(call.Call, call.Index))
                    await sse.WriteAsync(shape.Chunk(new JsonObject { ["tool_calls"] = new JsonArray(piece) }, null, null), http.RequestAborted);
                return;
            }

            var delta = e switch
            {
                AgentContent c => new JsonObject { ["content"] = c.Text },
                AgentReasoning r => new JsonObject { ["reasoning_content"] = r.Text },
                AgentToolRun r => new JsonObject { ["tern_tool_calls"] = new JsonArray(ResponseShape.ToolRun(r)) },
                _ => null,
            };
            if (delta is not null)
                await sse.WriteAsync(shape.Chunk(delta, null, null), http.RequestAborted);
        }, http.RequestAborted);

        if (sse is null)
        {
            await Results.Json(shape.CompleteWithTools(result), ServerJson.Options).ExecuteAsync(http);
            return;
        }

        await sse.WriteAsync(shape.FinishChunk(result.Finished, result.FinishReason), http.RequestAborted);
        if (p.IncludeUsage)
            await sse.WriteAsync(shape.UsageChunk(result.Finished with { Usage = result.Usage }), http.RequestAborted);
        await sse.DoneAsync(http.RequestAborted);
    }

    public async Task CompletionAsync(HttpContext http)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        RequestFields.Check(r, RequestFields.Completion, "/v1/completions");
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
        if (r.Integer("best_of", 1, 1) is not null and not 1)
            throw ApiException.BadRequest("only best_of = 1 is supported", "best_of");
        if (!string.IsNullOrEmpty(r.String("suffix")))
            throw ApiException.BadRequest("'suffix' (insertion) is not supported: send the text before the gap as 'prompt'", "suffix");
        bool echo = r.Bool("echo") ?? false;
        string prompt = r.Element("prompt") is { ValueKind: System.Text.Json.JsonValueKind.String } p
            ? p.GetString()!
            : r.Has("prompt")
                ? throw JsonRequest.WrongType("prompt", r.Element("prompt")!.Value, "a string")
                : throw ApiException.BadRequest("'prompt' is required", "prompt", "missing_required_parameter");
        var parameters = CompletionParameters.Read(r, model.Defaults, model.VocabSize, chat: false, model.Engine.Parallel);
        if (echo && parameters.Logprobs)
            throw ApiException.BadRequest("'echo' with 'logprobs' is not supported (the prompt's own logprobs are not computed)", "echo");
        int[] tokens = model.Tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true);
        if (tokens.Length == 0)
            throw ApiException.BadRequest("'prompt' is empty", "prompt");
        await RunAsync(http, model, tokens, parameters, chat: false, echo: echo ? prompt : null);
    }

    public async Task<IResult> ApplyTemplateAsync(HttpContext http)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
        // the tools a chat request would carry: the client's and the offered built-in ones
        var tools = ChatMessages.Tools(r);
        tools = BuiltinTools.Read(r, server.Tools)?.AddSchemas(tools) ?? tools;
        string prompt = await model.Template.RenderAsync(ChatMessages.Read(r), tools, ChatMessages.TemplateKwargs(r), addGenerationPrompt: true, http.RequestAborted);
        return Results.Json(new { prompt }, ServerJson.Options);
    }

    /// <param name="reasoning">Splits the chat reply's reasoning into <c>reasoning_content</c>; null: all of it is content.</param>
    /// <param name="echo">The prompt, which a text completion with <c>echo</c> writes before the generated text.</param>
    private async Task RunAsync(HttpContext http, ServedModel model, int[] tokens, CompletionParameters p, bool chat, ReasoningSplitter? reasoning = null, string? echo = null)
    {
        var request = new GenerationRequest
        {
            Id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N"),
            PromptTokens = tokens,
            Sampling = p.Sampling,
            MaxTokens = p.MaxTokens,
            Stop = p.Stop,
            TopLogprobs = p.Logprobs ? Math.Max(p.TopLogprobs, 0) : 0,
            Grammar = p.Grammar,
            Slot = p.Slot,
        };
        server.Metrics.Request();
        var submitted = model.Engine.Submit(request, http.RequestAborted);
        var events = RequestStats.Track(model, request, server.Metrics.Timed(model.Name, submitted));
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var shape = new ResponseShape(request.Id!, created, model.Name, chat, p.Logprobs, model.Tokenizer);
        if (!p.Stream)
        {
            var response = await GenerationStream.ReadToEndAsync(events, submitted.Id, http.RequestAborted);
            if (echo is not null)
                response = response with { Text = echo + response.Text };
            await Results.Json(shape.Complete(response, reasoning), ServerJson.Options).ExecuteAsync(http);
            return;
        }

        var sse = new SseWriter(http.Response);
        if (chat)
            await sse.WriteAsync(shape.Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null, null), http.RequestAborted);
        if (echo is not null)
            await sse.WriteAsync(shape.Chunk(null, echo, null), http.RequestAborted);
        await foreach (var e in events.WithCancellation(http.RequestAborted))
        {
            switch (e)
            {
                case GenerationDelta d when reasoning is null:
                    await sse.WriteAsync(shape.DeltaChunk(d), http.RequestAborted);
                    break;
                case GenerationDelta d:
                    if (shape.SplitChunk(reasoning.Push(d.Text), d.Tokens) is { } split)
                        await sse.WriteAsync(split, http.RequestAborted);
                    break;
                case GenerationFinished f:
                    if (reasoning is not null && shape.SplitChunk(reasoning.Finish(), []) is { } rest)
                        await sse.WriteAsync(rest, http.RequestAborted);
                    await sse.WriteAsync(shape.FinishChunk(f), http.RequestAborted);
                    if (p.IncludeUsage)
                        await sse.WriteAsync(shape.UsageChunk(f), http.RequestAborted);
                    break;
            }
        }

        await sse.DoneAsync(http.RequestAborted);
    }
}
