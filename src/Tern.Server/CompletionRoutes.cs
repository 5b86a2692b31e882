using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
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
        var parameters = CompletionParameters.Read(r, model.Defaults, model.VocabSize, chat: true);
        string prompt = model.Template.Render(messages, tools, addGenerationPrompt: true);
        int[] tokens = model.Template.Tokenize(model.Tokenizer, prompt);
        await RunAsync(http, model, tokens, parameters, chat: true);
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
        string prompt = model.Template.Render(ChatMessages.Read(r), ChatMessages.Tools(r), addGenerationPrompt: true);
        return Results.Json(new { prompt }, ServerJson.Options);
    }

    private async Task RunAsync(HttpContext http, ServedModel model, int[] tokens, CompletionParameters p, bool chat)
    {
        var request = new GenerationRequest
        {
            Id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N"),
            PromptTokens = tokens,
            Sampling = p.Sampling,
            MaxTokens = p.MaxTokens,
            Stop = p.Stop,
            TopLogprobs = p.Logprobs ? Math.Max(p.TopLogprobs, 0) : 0,
        };
        server.Metrics.Request();
        var stream = model.Engine.Submit(request, http.RequestAborted);
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var shape = new ResponseShape(request.Id!, created, model.Name, chat, p.Logprobs, model.Tokenizer);
        if (!p.Stream)
        {
            var response = await stream.ReadToEndAsync(http.RequestAborted);
            await Results.Json(shape.Complete(response), ServerJson.Options).ExecuteAsync(http);
            return;
        }

        var sse = new SseWriter(http.Response);
        if (chat)
            await sse.WriteAsync(shape.Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null, null), http.RequestAborted);
        await foreach (var e in stream.WithCancellation(http.RequestAborted))
        {
            switch (e)
            {
                case GenerationDelta d:
                    await sse.WriteAsync(shape.DeltaChunk(d), http.RequestAborted);
                    break;
                case GenerationFinished f:
                    await sse.WriteAsync(shape.FinishChunk(f), http.RequestAborted);
                    if (p.IncludeUsage)
                        await sse.WriteAsync(shape.UsageChunk(f), http.RequestAborted);
                    break;
            }
        }

        await sse.DoneAsync(http.RequestAborted);
    }
}
