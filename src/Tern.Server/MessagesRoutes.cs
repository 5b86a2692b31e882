using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// Anthropic's Messages API: POST /v1/messages and /v1/messages/count_tokens. The request becomes chat messages
/// (<see cref="MessagesRequest"/>) and goes through the chat pipeline: the template, the engine, the reasoning
/// splitter (thinking blocks) and, with tools, the <see cref="AgentLoop"/> (client calls end the message as tool_use
/// blocks; built-in ones run and go back to the model).
/// </summary>
internal sealed class MessagesRoutes(TernServer server)
{
    public static void Map(WebApplication app, TernServer server)
    {
        var routes = new MessagesRoutes(server);
        app.MapPost("/v1/messages", routes.CreateAsync);
        app.MapPost("/v1/messages/count_tokens", (Delegate)routes.CountTokensAsync);
    }

    private async Task CreateAsync(HttpContext http)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
        var request = MessagesRequest.Read(r, model.Defaults, model.VocabSize);
        var builtins = BuiltinTools.Read(r, server.Tools);
        var tools = AllTools(request, builtins);
        string id = "msg_" + Guid.NewGuid().ToString("N");
        var shape = new MessagesShape(id, model.Name, request.OmitThinking);
        var stream = request.Stream ? new MessagesStream(http.Response, shape) : null;
        bool reasoningInContent = server.Options.ReasoningFormat == ReasoningFormat.None;
        server.Metrics.Request();

        var format = model.Template.ToolCallFormat;
        if (request.ForceCall && tools is null)
            throw ApiException.BadRequest("'tool_choice' forces a tool call, but the request has no 'tools'", "tool_choice");
        var strict = ToolCallGrammar.Lazy(format, tools, ChatMessages.StrictTools(request.Tools));
        var forced = request.ForceCall ? new ForcedCall(format, tools!, request.ForcedFunction, !request.SingleToolUse).Checked() : null;
        var turns = new TurnStarter(model, new GenerationRequest
            {
                Id = id, PromptTokens = [], Sampling = request.Sampling, MaxTokens = request.MaxTokens, Stop = request.StopSequences,
                Grammar = strict?.Grammar, GrammarTrigger = strict?.Trigger,
            },
            tools, request.Kwargs, keepMarkup: reasoningInContent, forced,
            (prompt, cancellation) => stream is null ? Task.CompletedTask : stream.StartAsync(prompt.Tokens.Length, cancellation), server.Metrics);

        Task OnEvent(AgentEvent e) => stream is null ? Task.CompletedTask : stream.EventAsync(e, http.RequestAborted);
        var result = await new AgentLoop(tools is null ? null : builtins, format, server.Options.MaxToolSteps, id, tools, reasoningInContent, !request.SingleToolUse)
            .RunAsync(request.Messages, turns.StartAsync, OnEvent, http.RequestAborted);

        if (stream is null)
            await Results.Json(shape.Message(result), ServerJson.Options).ExecuteAsync(http);
        else
            await stream.FinishAsync(result, http.RequestAborted);
    }

    /// <summary>{"input_tokens": n}: the size of the prompt the same request to /v1/messages would give the model.</summary>
    private async Task<IResult> CountTokensAsync(HttpContext http)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
        var request = MessagesRequest.ReadPrompt(r);
        var prompt = await model.Template.TokensAsync(request.Messages, AllTools(request, BuiltinTools.Read(r, server.Tools)), request.Kwargs, http.RequestAborted);
        return Results.Json(new JsonObject { ["input_tokens"] = prompt.Tokens.Length }, ServerJson.Options);
    }

    /// <summary>The tools the model sees: the client's and the offered built-in ones; null when there are none or tool_choice is none.</summary>
    private static JsonArray? AllTools(MessagesRequest request, BuiltinTools? builtins) =>
        !request.UseTools ? null : builtins?.AddSchemas(request.Tools) ?? request.Tools;
}
