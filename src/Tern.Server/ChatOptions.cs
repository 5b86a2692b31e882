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
}

/// <summary>
/// The chat-only request fields that shape the conversation rather than the sampling: <c>tool_choice</c>,
/// <c>parallel_tool_calls</c>, <c>reasoning_effort</c> (mapped onto the template's <c>enable_thinking</c>),
/// <c>modalities</c> and <c>store</c>, validated.
/// </summary>
internal sealed record ChatOptions(ToolChoice ToolChoice, bool ParallelToolCalls, bool? EnableThinking)
{
    public static ChatOptions Read(JsonRequest r)
    {
        RequireTextOnly(r);
        if (r.Bool("store") == true)
            throw ApiException.BadRequest("'store': true is not supported: Tern keeps no completions (it is stateless, as llama-server)", "store");
        return new ChatOptions(ReadToolChoice(r), r.Bool("parallel_tool_calls") ?? true, ReasoningEffort(r));
    }

    /// <summary>The kwargs with <c>enable_thinking</c> from reasoning_effort added, unless the client set it itself.</summary>
    public IReadOnlyDictionary<string, JsonNode?>? WithThinking(IReadOnlyDictionary<string, JsonNode?>? kwargs)
    {
        if (EnableThinking is not { } thinking || kwargs?.ContainsKey("enable_thinking") == true)
            return kwargs;
        var result = kwargs is null ? new Dictionary<string, JsonNode?>(StringComparer.Ordinal) : new Dictionary<string, JsonNode?>(kwargs, StringComparer.Ordinal);
        result["enable_thinking"] = thinking;
        return result;
    }

    private static ToolChoice ReadToolChoice(JsonRequest r)
    {
        if (r.Element("tool_choice") is not { } choice)
            return ToolChoice.Auto;
        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() switch
            {
                "auto" => ToolChoice.Auto,
                "none" => ToolChoice.None,
                "required" => throw ApiException.BadRequest("'tool_choice': \"required\" is not supported yet (it needs grammar-constrained tool calls); use \"auto\" or \"none\"", "tool_choice"),
                var other => throw ApiException.BadRequest($"'tool_choice' must be \"auto\", \"none\" or \"required\", got \"{other}\"", "tool_choice"),
            };
        }

        if (choice.ValueKind == JsonValueKind.Object)
            throw ApiException.BadRequest("'tool_choice' naming a function is not supported yet (it needs grammar-constrained tool calls); use \"auto\" or \"none\"", "tool_choice");
        throw JsonRequest.WrongType("tool_choice", choice, "a string or an object");
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
