using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tern.Server;

/// <summary>How the model may call tools in this request: OpenAI's <c>tool_choice</c>.</summary>
internal enum ToolChoice
{
    /// <summary>The model decides (the default).</summary>
    Auto,

    /// <summary>No tool is offered: the template gets none, built-in tools included, and nothing is parsed as a call.</summary>
    None,

    /// <summary>The first turn must call a tool (<see cref="ChatOptions.ForcedFunction"/>, when set): it is generated under <see cref="ToolCallGrammar"/>.</summary>
    Required,
}

/// <summary>
/// The chat-only request fields that shape the conversation rather than the sampling: <c>tool_choice</c>,
/// <c>parallel_tool_calls</c>, <c>reasoning_effort</c> (mapped onto the template's <c>enable_thinking</c>),
/// <c>modalities</c> and <c>store</c>, validated.
/// </summary>
/// <param name="ForcedFunction">With <see cref="ToolChoice.Required"/>: the function the call must name (null: any).</param>
internal sealed record ChatOptions(ToolChoice ToolChoice, bool ParallelToolCalls, bool? EnableThinking, string? ForcedFunction = null)
{
    public static ChatOptions Read(JsonRequest r)
    {
        RequireTextOnly(r);
        if (r.Bool("store") == true)
            throw ApiException.BadRequest("'store': true is not supported: Tern keeps no completions (it is stateless, as llama-server)", "store");
        var (choice, function) = ReadToolChoice(r);
        return new ChatOptions(choice, r.Bool("parallel_tool_calls") ?? true, ReasoningEffort(r), function);
    }


    /// <summary>The kwargs with <c>enable_thinking</c> from reasoning_effort added, unless the client set it itself.</summary>
    public IReadOnlyDictionary<string, JsonNode?>? WithThinking(IReadOnlyDictionary<string, JsonNode?>? kwargs) =>
        EnableThinking is { } thinking ? DefaultThinking(kwargs, thinking) : kwargs;

    /// <summary>The kwargs with <c>enable_thinking</c> set to <paramref name="thinking"/>, unless the client set it itself.</summary>
    public static IReadOnlyDictionary<string, JsonNode?> DefaultThinking(IReadOnlyDictionary<string, JsonNode?>? kwargs, bool thinking)
    {
        var result = kwargs is null ? new Dictionary<string, JsonNode?>(StringComparer.Ordinal) : new Dictionary<string, JsonNode?>(kwargs, StringComparer.Ordinal);
        result.TryAdd("enable_thinking", thinking);
        return result;
    }

    private static (ToolChoice, string?) ReadToolChoice(JsonRequest r)
    {
        if (r.Element("tool_choice") is not { } choice)
            return (ToolChoice.Auto, null);
        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() switch
            {
                "auto" => (ToolChoice.Auto, null),
                "none" => (ToolChoice.None, null),
                "required" => (ToolChoice.Required, null),
                var other => throw ApiException.BadRequest($"'tool_choice' must be \"auto\", \"none\" or \"required\", got \"{other}\"", "tool_choice"),
            };
        }

        if (choice.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("tool_choice", choice, "a string or an object");
        // {"type": "function", "function": {"name": "..."}}
        if (choice.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object
            && f.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
            && (!choice.TryGetProperty("type", out var type) || type.ValueKind == JsonValueKind.String && type.GetString() == "function"))
            return (ToolChoice.Required, name.GetString());
        throw ApiException.BadRequest("'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}} when it is an object", "tool_choice");
    }

    /// <summary>none and minimal switch thinking off; low, medium and high switch it on (the template has no finer dial).</summary>
    private static bool? ReasoningEffort(JsonRequest r) => r.String("reasoning_effort") switch
    {
        null => null,
        "none" or "minimal" => false,
        "low" or "medium" or "high" => true,
        var other => throw ApiException.BadRequest($"'reasoning_effort' must be one of none, minimal, low, medium, high; got \"{other}\"", "reasoning_effort"),
    };

    private static void RequireTextOnly(JsonRequest r)
    {
        if (r.Element("modalities") is not { } modalities)
            return;
        if (modalities.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType("modalities", modalities, "an array");
        foreach (var m in modalities.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.String || m.GetString() != "text")
                throw ApiException.BadRequest($"'modalities' may only hold \"text\": this server writes text only", "modalities");
        }
    }
}
