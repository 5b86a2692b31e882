using System.Text.Json;

namespace Tern.Cli.Soak;

/// <summary>
/// Checks a streamed chat answer line by line, as an OpenAI client reads it: <c>data: {chunk}</c> events of
/// <c>chat.completion.chunk</c> objects, a finish_reason, then <c>data: [DONE]</c> and nothing after; comment
/// lines (<c>:</c>) are allowed. An error event or anything else is a problem.
/// </summary>
internal sealed class SseCheck
{
    /// <summary>Chunks that carried text (content or reasoning_content).</summary>
    public int ContentChunks { get; private set; }

    public bool Done { get; private set; }

    private bool _finished;

    /// <summary>Reads one line of the stream; returns the problem with it, or null.</summary>
    public string? Line(string line)
    {
        if (line.Length == 0 || line[0] == ':')
            return null;
        if (Done)
            return "data after [DONE]";
        if (!line.StartsWith("data:", StringComparison.Ordinal))
            return line.StartsWith("event:", StringComparison.Ordinal) || line.StartsWith("id:", StringComparison.Ordinal) ? null : "a line that is not SSE";
        string data = line["data:".Length..].TrimStart(' ');
        if (data == "[DONE]")
        {
            Done = true;
            return _finished ? null : "[DONE] before any finish_reason";
        }

        try
        {
            using var json = JsonDocument.Parse(data);
            return Chunk(json.RootElement);
        }
        catch (JsonException)
        {
            return "a data line that is not JSON";
        }
    }

    /// <summary>The problem with how the stream ended, or null.</summary>
    public string? End() => Done ? null : "the stream ended without data: [DONE]";

    private string? Chunk(JsonElement chunk)
    {
        if (chunk.ValueKind != JsonValueKind.Object)
            return "a data line that is not a JSON object";
        if (chunk.TryGetProperty("error", out var error))
            return "an error event" + (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) ? $": {m}" : "");
        if (!chunk.TryGetProperty("object", out var kind) || kind.ValueKind != JsonValueKind.String || kind.GetString() != "chat.completion.chunk")
            return "a chunk whose object is not chat.completion.chunk";
        if (!chunk.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array)
            return "a chunk without a choices array";
        foreach (var choice in choices.EnumerateArray())
        {
            if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object
                && (HasText(delta, "content") || HasText(delta, "reasoning_content")))
            {
                if (_finished)
                    return "content after the finish_reason";
                ContentChunks++;
            }

            if (choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String)
                _finished = true;
        }

        return null;
    }

    private static bool HasText(JsonElement delta, string name) =>
        delta.TryGetProperty(name, out var text) && text.ValueKind == JsonValueKind.String && text.GetString()!.Length > 0;
}

/// <summary>Checks a whole (not streamed) answer's body.</summary>
internal static class BodyCheck
{
    /// <summary>The problem with a 200 chat completion body, or null.</summary>
    public static string? Completion(string body) => Parse(body, root =>
        root.TryGetProperty("object", out var kind) && kind.ValueKind == JsonValueKind.String && kind.GetString() == "chat.completion"
        && root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() == 1
        && choices[0].TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object
        && choices[0].TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String
            ? null
            : "a 200 body that is not a chat.completion with one choice, its message and finish_reason");

    /// <summary>The problem with an error body (OpenAI's shape: <c>{"error": {"message": ...}}</c>), or null.</summary>
    public static string? Error(string body) => Parse(body, root =>
        root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
        && error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String
            ? null
            : "an error body without error.message");

    private static string? Parse(string body, Func<JsonElement, string?> check)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object ? check(json.RootElement) : "a body that is not a JSON object";
        }
        catch (JsonException)
        {
            return "a body that is not JSON";
        }
    }
}
