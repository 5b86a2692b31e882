using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Tern.Chat;
using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// OpenAI's Responses API: POST /v1/responses (and /responses). The input becomes chat messages
/// (<see cref="ResponsesInput"/>) and takes the chat completions' path: the chat template, the engine, the reasoning
/// splitter, and with tools (the client's function tools, or the built-in ones under --tools) the <see cref="AgentLoop"/>.
/// Stateless: nothing is stored, so <c>store: true</c> and <c>previous_response_id</c> are refused.
/// </summary>
internal static class ResponsesRoutes
{
    public static void Map(WebApplication app, TernServer server)
    {
        app.MapPost("/v1/responses", http => CreateAsync(http, server));
        app.MapPost("/responses", http => CreateAsync(http, server));
    }

    private static async Task CreateAsync(HttpContext http, TernServer server)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
        var request = ResponsesRequest.Read(r, model);
        string id = "resp_" + Guid.NewGuid().ToString("N");
        var shape = new ResponsesShape(id, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), model.Name, request.Echo);
        var events = request.Stream ? new ResponsesEvents(http.Response) : null;
        var output = new ResponsesOutput(events);
        var cancellation = http.RequestAborted;
        server.Metrics.Request();

        var tools = request.ToolsOff ? null : request.Tools;
        var builtins = BuiltinTools.Read(r, server.Tools); // checked even when tool_choice is none
        if (request.ToolsOff)
            builtins = null;
        if (builtins is not null)
            tools = builtins.AddSchemas(tools);

        if (request.ForceCall && tools is null)
            throw ApiException.BadRequest("'tool_choice' forces a tool call, but the request has no 'tools'", "tool_choice");
        var format = model.Template.ToolCallFormat;
        var forced = request.ForceCall ? new ForcedCall(format, tools!, request.ForcedFunction, request.ParallelToolCalls).Checked() : null;
        var strict = request.Grammar is null ? ToolCallGrammar.Lazy(format, tools, ChatMessages.StrictTools(request.Tools)) : null;
        bool reasoningInContent = server.Options.ReasoningFormat == ReasoningFormat.None;
        var turns = new TurnStarter(model, new GenerationRequest
            {
                Id = id, PromptTokens = [], Sampling = request.Sampling, MaxTokens = request.MaxOutputTokens,
                Grammar = request.Grammar ?? strict?.Grammar, GrammarTrigger = strict?.Trigger,
            },
            tools, request.Kwargs, keepMarkup: reasoningInContent, forced, async (_, turnCancellation) =>
            {
                if (events is { Started: false }) // after the first prompt is accepted: a request the engine refuses gets a plain 4xx
                {
                    await events.WriteAsync(new JsonObject { ["type"] = "response.created", ["response"] = shape.Response("in_progress", []) }, turnCancellation);
                    await events.WriteAsync(new JsonObject { ["type"] = "response.in_progress", ["response"] = shape.Response("in_progress", []) }, turnCancellation);
                }
            }, server.Metrics);

        Task OnEvent(AgentEvent e) => output.AddAsync(e, cancellation);
        AgentResult result;
        try
        {
            result = await new AgentLoop(builtins, format, server.Options.MaxToolSteps, id, tools, reasoningInContent, request.ParallelToolCalls)
                .RunAsync(request.Messages, turns.StartAsync, OnEvent, cancellation);
        }
        catch (Exception e) when (events is { Started: true } && !cancellation.IsCancellationRequested)
        {
            await events.WriteAsync(ErrorEvent(e), CancellationToken.None);
            return;
        }
        catch (ContextLengthExceededException c)
        {
            throw new ApiException(400, c.Message, "input", "context_length_exceeded");
        }
        catch (TemplateException t)
        {
            throw new ApiException(400, $"the chat template failed: {t.Message}", "input", "template_error");
        }

        var calls = result.ClientCalls;
        bool incomplete = calls.Count == 0 && result.Finished.Reason == FinishReason.Length;
        await output.FinishAsync(calls, incomplete, cancellation);
        int reasoningTokens = output.Reasoning.Length == 0 ? 0 : model.Tokenizer.Encode(output.Reasoning, addSpecial: false).Length;
        var response = shape.Response(incomplete ? "incomplete" : "completed", output.Items, result.Usage, reasoningTokens);
        if (events is null)
        {
            await Results.Json(response, ServerJson.Options).ExecuteAsync(http);
            return;
        }

        await events.WriteAsync(new JsonObject { ["type"] = incomplete ? "response.incomplete" : "response.completed", ["response"] = response }, cancellation);
    }

    /// <summary>An error after the stream started: the Responses API's <c>error</c> event (the status line is already sent).</summary>
    private static JsonObject ErrorEvent(Exception e)
    {
        (string code, string message) = e switch
        {
            ApiException api => (api.Code ?? "invalid_request_error", api.Message),
            ContextLengthExceededException c => ("context_length_exceeded", c.Message),
            TemplateException t => ("template_error", $"the chat template failed: {t.Message}"),
            InvalidLogitsException l => ("invalid_logits", l.Message),
            _ => ("internal_error", $"internal error: {e.GetType().Name}: {e.Message}"),
        };
        return new JsonObject { ["type"] = "error", ["code"] = code, ["message"] = message.ReplaceLineEndings(" "), ["param"] = null };
    }
}
