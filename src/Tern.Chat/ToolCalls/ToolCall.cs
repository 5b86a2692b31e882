using System.Text.Json.Nodes;

namespace Tern.Chat.ToolCalls;

/// <summary>One parsed tool call. <see cref="Arguments"/> is a JSON object as text, as OpenAI sends it, in the model's own key order.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments)
{
    /// <summary>
    /// The OpenAI shape <c>{id, type: "function", function: {name, arguments}}</c>; with <paramref name="argumentsAsObject"/> the
    /// arguments are a JSON object instead of a string, as chat templates expect them in <see cref="ChatMessage.ToolCalls"/>.
    /// </summary>
    public JsonObject ToJson(bool argumentsAsObject = false) => new()
    {
        ["id"] = Id,
        ["type"] = "function",
        ["function"] = new JsonObject
        {
            ["name"] = Name,
            ["arguments"] = argumentsAsObject ? JsonNode.Parse(Arguments) : JsonValue.Create(Arguments),
        },
    };
}

/// <summary>
/// A tool call the model tried to make but wrote wrongly (invalid JSON, no name, an unclosed block...). It is not an exception:
/// the server answers it with <see cref="Message"/> as the tool result so that the model can try again.
/// </summary>
/// <param name="Id">An id for the failed call, so that it can be answered like a call.</param>
/// <param name="Name">The function name when it could be read, else null.</param>
/// <param name="RawText">The markup as the model wrote it.</param>
/// <param name="Reason">What is wrong, e.g. <c>the call has no "name"</c>.</param>
/// <param name="Message">The reason and the expected format, written for the model.</param>
public sealed record ToolCallError(string Id, string? Name, string RawText, string Reason, string Message);

/// <summary>
/// What a <see cref="ToolCallParser"/> produced from some text: content that is safe to show (it holds no tool-call markup),
/// and the calls and malformed calls completed in that text.
/// </summary>
public sealed record ToolCallUpdate(string Content, IReadOnlyList<ToolCall> Calls, IReadOnlyList<ToolCallError> Errors)
{
    public static ToolCallUpdate Empty { get; } = new("", [], []);

    public bool IsEmpty => Content.Length == 0 && Calls.Count == 0 && Errors.Count == 0;
}
