using System.Text.Json.Nodes;
using Tern.Chat.ToolCalls;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// A tool call the first turn must make (OpenAI's <c>tool_choice: "required"</c> or a named function, Anthropic's
/// <c>any</c> or <c>tool</c>): that turn runs under <see cref="ToolCallGrammar"/>, with thinking switched off.
/// </summary>
internal sealed record ForcedCall(ToolCallFormat Format, JsonArray Tools, string? Function, bool Parallel)
{
    /// <summary>Checks that the call can be forced (a 400 otherwise), before anything is sent.</summary>
    public ForcedCall Checked()
    {
        ToolCallGrammar.For(Format, Tools, Function, Parallel, closeReasoning: null);
        return this;
    }

    public Tern.Runtime.Grammar.Grammar Grammar(ChatPrompt prompt) =>
        ToolCallGrammar.For(Format, Tools, Function, Parallel, prompt.OpensReasoning ? prompt.Reasoning!.Close : null);
}

/// <summary>
/// Starts the model turns of one chat-style request, for every API (chat completions, Responses, Messages): renders
/// the chat template for the turn's messages, submits the prompt to the engine as <paramref name="request"/> says
/// (sampling, limits, stop strings, a structured-output grammar) and pairs the stream with the reasoning splitter.
/// With <paramref name="forced"/>, the first turn is the forced call. <paramref name="onSubmitted"/> runs once a
/// prompt is accepted (an API may start its event stream then, so a refused prompt still gets a plain 4xx).
/// With <paramref name="metrics"/>, each turn's latencies are recorded (/metrics).
/// </summary>
internal sealed class TurnStarter(ServedModel model, GenerationRequest request, JsonArray? tools, IReadOnlyDictionary<string, JsonNode?>? kwargs,
    bool keepMarkup, ForcedCall? forced = null, Func<ChatPrompt, CancellationToken, Task>? onSubmitted = null, ServerMetrics? metrics = null)
{
    private int _turns;

    public async Task<ModelTurn> StartAsync(JsonArray messages, CancellationToken cancellation)
    {
        bool forcedTurn = forced is not null && _turns++ == 0;
        var prompt = await model.Template.TokensAsync(messages, tools, forcedTurn ? ChatOptions.DefaultThinking(kwargs, thinking: false) : kwargs, cancellation);
        var turn = forcedTurn
            ? request with { PromptTokens = prompt.Tokens, Grammar = forced!.Grammar(prompt), GrammarTrigger = null }
            : request with { PromptTokens = prompt.Tokens };
        IAsyncEnumerable<GenerationEvent> events = model.Engine.Submit(turn, cancellation);
        if (metrics is not null)
            events = metrics.Timed(model.Name, events);
        events = RequestStats.Track(model, turn, events);
        if (onSubmitted is not null)
            await onSubmitted(prompt, cancellation);
        return new ModelTurn(events, prompt.Splitter(keepMarkup));
    }
}
