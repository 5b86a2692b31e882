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
        var model = server.RequireModel();
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        var messages = ChatMessages.Read(r);
        var tools = ChatMessages.Tools(r);
        var kwargs = ChatMessages.TemplateKwargs(r);
        var parameters = CompletionParameters.Read(r, model.Defaults, model.VocabSize, chat: true);
        if (tools is null && server.Tools is null)
        {
            var prompt = await model.Template.TokensAsync(messages, tools, kwargs, http.RequestAborted);
            var reasoning = server.Options.ReasoningFormat == ReasoningFormat.None ? null : prompt.Splitter(keepMarkup: false);
            await RunAsync(http, model, prompt.Tokens, parameters, chat: true, reasoning);
            return;
        }

        await RunWithToolsAsync(http, model, messages, tools, kwargs, parameters);
    }

    /// <summary>A chat request with tools: the client's and/or the built-in ones, run through the <see cref="AgentLoop"/>.</summary>
    private async Task RunWithToolsAsync(HttpContext http, ServedModel model, JsonArray messages, JsonArray? clientTools,
        IReadOnlyDictionary<string, JsonNode?>? kwargs, CompletionParameters p)
    {
        var tools = clientTools ?? [];
        foreach (var schema in server.Tools?.Schemas ?? [])
            tools.Add(JsonNode.Parse(schema.GetRawText()));
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var shape = new ResponseShape(id, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), model.Name, chat: true, logprobs: false, model.Tokenizer);
        server.Metrics.Request();

        bool reasoningInContent = server.Options.ReasoningFormat == ReasoningFormat.None;
        async Task<ModelTurn> Turn(JsonArray turnMessages, CancellationToken cancellation)
        {
            var prompt = await model.Template.TokensAsync(turnMessages, tools, kwargs, cancellation);
            var request = new GenerationRequest
            {
                Id = id,
                PromptTokens = prompt.Tokens,
                Sampling = p.Sampling,
                MaxTokens = p.MaxTokens,
                Stop = p.Stop,
                Grammar = p.Grammar,
            };
            return new ModelTurn(model.Engine.Submit(request, cancellation), prompt.Splitter(keepMarkup: reasoningInContent));
        }

        var loop = new AgentLoop(server.Tools, model.Template.ToolCallFormat, server.Options.MaxToolSteps, id, tools, reasoningInContent);
        var sse = p.Stream ? new SseWriter(http.Response) : null;
        if (sse is not null)
            await sse.WriteAsync(shape.Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null, null), http.RequestAborted);
        var result = await loop.RunAsync(messages, Turn, async e =>
        {
            if (sse is null)
                return;
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

        if (result.ClientCalls.Count > 0)
            await sse.WriteAsync(shape.Chunk(new JsonObject { ["tool_calls"] = ResponseShape.ClientCalls(result.ClientCalls, streaming: true) }, null, null), http.RequestAborted);
        await sse.WriteAsync(shape.Chunk(null, null, result.FinishReason), http.RequestAborted);
        if (p.IncludeUsage)
            await sse.WriteAsync(shape.UsageChunk(result.Finished with { Usage = result.Usage }), http.RequestAborted);
        await sse.DoneAsync(http.RequestAborted);
    }

    public async Task CompletionAsync(HttpContext http)
    {
        var model = server.RequireModel();
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        string prompt = r.Element("prompt") is { ValueKind: System.Text.Json.JsonValueKind.String } p
            ? p.GetString()!
            : r.Has("prompt")
                ? throw JsonRequest.WrongType("prompt", r.Element("prompt")!.Value, "a string")
                : throw ApiException.BadRequest("'prompt' is required", "prompt", "missing_required_parameter");
        var parameters = CompletionParameters.Read(r, model.Defaults, model.VocabSize, chat: false);
        int[] tokens = model.Tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true);
        if (tokens.Length == 0)
            throw ApiException.BadRequest("'prompt' is empty", "prompt");
        await RunAsync(http, model, tokens, parameters, chat: false);
    }

    public async Task<IResult> ApplyTemplateAsync(HttpContext http)
    {
        var model = server.RequireModel();
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        string prompt = await model.Template.RenderAsync(ChatMessages.Read(r), ChatMessages.Tools(r), ChatMessages.TemplateKwargs(r), addGenerationPrompt: true, http.RequestAborted);
        return Results.Json(new { prompt }, ServerJson.Options);
    }

    /// <param name="reasoning">Splits the chat reply's reasoning into <c>reasoning_content</c>; null: all of it is content.</param>
    private async Task RunAsync(HttpContext http, ServedModel model, int[] tokens, CompletionParameters p, bool chat, ReasoningSplitter? reasoning = null)
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
        };
        server.Metrics.Request();
        var stream = model.Engine.Submit(request, http.RequestAborted);
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var shape = new ResponseShape(request.Id!, created, model.Name, chat, p.Logprobs, model.Tokenizer);
        if (!p.Stream)
        {
            var response = await stream.ReadToEndAsync(http.RequestAborted);
            await Results.Json(shape.Complete(response, reasoning), ServerJson.Options).ExecuteAsync(http);
            return;
        }

        var sse = new SseWriter(http.Response);
        if (chat)
            await sse.WriteAsync(shape.Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null, null), http.RequestAborted);
        await foreach (var e in stream.WithCancellation(http.RequestAborted))
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
