using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Tern.Chat.Reasoning;
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
        var model = server.RequireModel();
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        var request = MessagesRequest.Read(r, model.Defaults, model.VocabSize);
        var tools = AllTools(request);
        string id = "msg_" + Guid.NewGuid().ToString("N");
        var shape = new MessagesShape(id, model.Name, request.OmitThinking);
        var stream = request.Stream ? new MessagesStream(http.Response, shape) : null;
        bool reasoningInContent = server.Options.ReasoningFormat == ReasoningFormat.None;
        server.Metrics.Request();

        async Task<ModelTurn> Turn(JsonArray messages, CancellationToken cancellation)
        {
            var prompt = await model.Template.TokensAsync(messages, tools, request.Kwargs, cancellation);
            if (stream is not null)
                await stream.StartAsync(prompt.Tokens.Length, cancellation);
            var generation = new GenerationRequest
            {
                Id = id,
                PromptTokens = prompt.Tokens,
                Sampling = request.Sampling,
                MaxTokens = request.MaxTokens,
                Stop = request.StopSequences,
            };
            return new ModelTurn(model.Engine.Submit(generation, cancellation), prompt.Splitter(keepMarkup: reasoningInContent));
        }

        Task OnEvent(AgentEvent e) => stream is null ? Task.CompletedTask : stream.EventAsync(e, http.RequestAborted);
        var result = tools is null
            ? await OneTurnAsync(request.Messages, Turn, OnEvent, reasoningInContent, http.RequestAborted)
            : await new AgentLoop(server.Tools, model.Template.ToolCallFormat, server.Options.MaxToolSteps, id, tools, reasoningInContent)
                .RunAsync(request.Messages, Turn, OnEvent, http.RequestAborted);
        if (request.SingleToolUse && result.ClientCalls.Count > 1)
            result = result with { ClientCalls = [result.ClientCalls[0]] };

        if (stream is null)
            await Results.Json(shape.Message(result), ServerJson.Options).ExecuteAsync(http);
        else
            await stream.FinishAsync(result, http.RequestAborted);
    }

    /// <summary>{"input_tokens": n}: the size of the prompt the same request to /v1/messages would give the model.</summary>
    private async Task<IResult> CountTokensAsync(HttpContext http)
    {
        var model = server.RequireModel();
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        var request = MessagesRequest.ReadPrompt(r);
        var prompt = await model.Template.TokensAsync(request.Messages, AllTools(request), request.Kwargs, http.RequestAborted);
        return Results.Json(new JsonObject { ["input_tokens"] = prompt.Tokens.Length }, ServerJson.Options);
    }

    /// <summary>The tools the model sees: the client's and the built-in ones (--tools); null when there are none or tool_choice is none.</summary>
    private JsonArray? AllTools(MessagesRequest request)
    {
        if (!request.UseTools || (request.Tools is null && server.Tools is null))
            return null;
        var tools = request.Tools ?? [];
        foreach (var schema in server.Tools?.Schemas ?? [])
            tools.Add(JsonNode.Parse(schema.GetRawText()));
        return tools;
    }

    /// <summary>A request without tools: one model turn, its reasoning split off (or kept in the content with --reasoning-format none).</summary>
    private static async Task<AgentResult> OneTurnAsync(JsonArray messages, TurnGenerator generate, Func<AgentEvent, Task> onEvent, bool reasoningInContent, CancellationToken cancellation)
    {
        var turn = await generate(messages, cancellation);
        var content = new StringBuilder();
        var reasoning = new StringBuilder();
        GenerationFinished? finished = null;
        await foreach (var e in turn.Events.WithCancellation(cancellation))
        {
            if (e is GenerationDelta d)
                await Split(turn.Reasoning?.Push(d.Text) ?? new ReasoningUpdate("", d.Text));
            else if (e is GenerationFinished f)
                finished = f;
        }

        if (turn.Reasoning is not null)
            await Split(turn.Reasoning.Finish());
        if (finished is null)
            throw new InvalidOperationException("the model's turn ended without a finish");
        return new AgentResult(content.ToString(), [], [], finished, finished.Usage, reasoning.ToString());

        async Task Split(ReasoningUpdate update)
        {
            string thought = update.Reasoning, text = update.Content;
            if (reasoningInContent)
                (thought, text) = ("", thought + text);
            if (thought.Length > 0)
            {
                reasoning.Append(thought);
                await onEvent(new AgentReasoning(thought));
            }

            if (text.Length > 0)
            {
                content.Append(text);
                await onEvent(new AgentContent(text));
            }
        }
    }
}
