using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tern.Server;

/// <summary>
/// A Responses request's <c>instructions</c> and <c>input</c> (a string, or a list of items) as the chat messages the template
/// gets, in the shape <see cref="ChatMessages.Read"/> produces. Message items become messages (text parts joined);
/// the assistant's side of a turn — a <c>reasoning</c> item, its message, its <c>function_call</c> items — becomes one
/// assistant message with <c>reasoning_content</c> and <c>tool_calls</c> (arguments parsed into objects, as templates
/// expect); a <c>function_call_output</c> becomes a tool message answering an earlier call, and an <c>mcp_call</c> (a built-in
/// tool run this server reported, sent back) both the call and its result.
/// </summary>
internal static class ResponsesInput
{
    private static readonly HashSet<string> Roles = ["user", "system", "developer", "assistant"];

    public static JsonArray Read(JsonRequest r, string? instructions)
    {
        var messages = new JsonArray();
        if (instructions is not null)
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = instructions });
        var input = r.Element("input") ?? throw ApiException.BadRequest("'input' is required", "input", "missing_required_parameter");
        if (input.ValueKind == JsonValueKind.String)
        {
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = input.GetString() });
            return messages;
        }

        if (input.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType("input", input, "a string or an array of input items");
        if (input.GetArrayLength() == 0)
            throw ApiException.BadRequest("'input' must contain at least one item", "input");
        var calls = new Dictionary<string, string>(); // call_id → function name, for the outputs that answer them
        JsonObject? assistant = null; // the assistant message the current turn's items go into
        int i = 0;
        foreach (var item in input.EnumerateArray())
        {
            string at = $"input[{i++}]";
            if (item.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType(at, item, "an object");
            string type = ResponsesRequest.StringField(item, "type", at) ?? "message";
            switch (type)
            {
                case "message":
                    var message = Message(item, at);
                    if (message["role"]!.GetValue<string>() != "assistant")
                    {
                        messages.Add(message);
                        assistant = null;
                    }
                    else if (assistant is not null && Empty(assistant))
                    {
                        assistant["content"] = message["content"]!.GetValue<string>();
                    }
                    else
                    {
                        messages.Add(message);
                        assistant = message;
                    }

                    break;
                case "reasoning":
                    string reasoning = Reasoning(item, at);
                    if (assistant is null || !Empty(assistant) || assistant.ContainsKey("reasoning_content"))
                        messages.Add(assistant = new JsonObject { ["role"] = "assistant", ["content"] = "" });
                    assistant["reasoning_content"] = reasoning;
                    break;
                case "function_call":
                    var (id, call) = FunctionCall(item, at);
                    if (!calls.TryAdd(id, call["function"]!["name"]!.GetValue<string>()))
                        throw ApiException.BadRequest($"'{at}.call_id' '{id}' is used by an earlier function_call", $"{at}.call_id");
                    if (assistant is null)
                        messages.Add(assistant = new JsonObject { ["role"] = "assistant", ["content"] = "" });
                    if (assistant["tool_calls"] is not JsonArray toolCalls)
                        assistant["tool_calls"] = toolCalls = [];
                    toolCalls.Add(call);
                    break;
                case "mcp_call":
                    var (runId, run, result) = ToolRun(item, at);
                    if (assistant is null)
                        messages.Add(assistant = new JsonObject { ["role"] = "assistant", ["content"] = "" });
                    if (assistant["tool_calls"] is not JsonArray runs)
                        assistant["tool_calls"] = runs = [];
                    runs.Add(run);
                    messages.Add(result);
                    calls.TryAdd(runId, run["function"]!["name"]!.GetValue<string>());
                    assistant = null;
                    break;
                case "function_call_output":
                    messages.Add(FunctionCallOutput(item, at, calls));
                    assistant = null;
                    break;
                case "item_reference":
                    throw ApiException.BadRequest($"'{at}.type' 'item_reference' is not supported: this server keeps no items; send the item itself", $"{at}.type");
                default:
                    throw ApiException.BadRequest($"'{at}.type' '{type}' is not supported (supported: message, reasoning, function_call, function_call_output, mcp_call)", $"{at}.type");
            }
        }

        return messages;
    }

    private static bool Empty(JsonObject assistant) =>
        assistant["content"]!.GetValue<string>().Length == 0 && !assistant.ContainsKey("tool_calls");

    private static JsonObject Message(JsonElement item, string at)
    {
        string role = ResponsesRequest.StringField(item, "role", at) ?? throw ApiException.BadRequest($"'{at}.role' is required", $"{at}.role", "missing_required_parameter");
        if (!Roles.Contains(role))
            throw ApiException.BadRequest($"'{at}.role' must be one of user, system, developer, assistant; got '{role}'", $"{at}.role");
        foreach (var p in item.EnumerateObject())
        {
            if (p.Name is not ("type" or "role" or "content" or "id" or "status" or "phase"))
                throw ApiException.BadRequest($"'{at}.{p.Name}' is not supported", $"{at}.{p.Name}", "unknown_parameter");
        }

        if (!item.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
            throw ApiException.BadRequest($"'{at}.content' is required", $"{at}.content", "missing_required_parameter");
        string partType = role == "assistant" ? "output_text" : "input_text";
        return new JsonObject { ["role"] = role, ["content"] = Text(content, $"{at}.content", partType) };
    }

    /// <summary>A string, or text parts of <paramref name="partType"/> joined; images and files are refused (the model reads text only).</summary>
    private static string Text(JsonElement content, string at, string partType)
    {
        if (content.ValueKind == JsonValueKind.String)
            return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType(at, content, "a string or an array of content parts");
        var text = new StringBuilder();
        int i = 0;
        foreach (var part in content.EnumerateArray())
        {
            string partAt = $"{at}[{i++}]";
            if (part.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType(partAt, part, "an object");
            string type = ResponsesRequest.StringField(part, "type", partAt) ?? throw ApiException.BadRequest($"'{partAt}.type' is required", $"{partAt}.type", "missing_required_parameter");
            if (type is "input_image" or "input_file" or "input_audio")
                throw ApiException.BadRequest($"'{partAt}.type' '{type}' is not supported: this model reads text only", $"{partAt}.type");
            if (type != partType)
                throw ApiException.BadRequest($"'{partAt}.type' must be '{partType}' here; got '{type}'", $"{partAt}.type");
            text.Append(ResponsesRequest.StringField(part, "text", partAt) ?? throw ApiException.BadRequest($"'{partAt}.text' is required", $"{partAt}.text", "missing_required_parameter"));
        }

        return text.ToString();
    }

    /// <summary>The reasoning text: the item's <c>reasoning_text</c> content, else its summary.</summary>
    private static string Reasoning(JsonElement item, string at)
    {
        foreach (var p in item.EnumerateObject())
        {
            if (p.Name is not ("type" or "id" or "summary" or "content" or "encrypted_content" or "status"))
                throw ApiException.BadRequest($"'{at}.{p.Name}' is not supported", $"{at}.{p.Name}", "unknown_parameter");
        }

        if (item.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array && content.GetArrayLength() > 0)
            return Text(content, $"{at}.content", "reasoning_text");
        if (!item.TryGetProperty("summary", out var summary) || summary.ValueKind == JsonValueKind.Null)
            throw ApiException.BadRequest($"'{at}.summary' is required", $"{at}.summary", "missing_required_parameter");
        return Text(summary, $"{at}.summary", "summary_text");
    }

    private static (string Id, JsonObject Call) FunctionCall(JsonElement item, string at)
    {
        foreach (var p in item.EnumerateObject())
        {
            // parsed_arguments: the openai npm client's stream helper adds it to the function_call items it returns, which clients send back.
            if (p.Name is not ("type" or "id" or "call_id" or "name" or "arguments" or "status" or "parsed_arguments"))
                throw ApiException.BadRequest($"'{at}.{p.Name}' is not supported", $"{at}.{p.Name}", "unknown_parameter");
        }

        string id = Required(item, "call_id", at);
        string name = Required(item, "name", at);
        return (id, new JsonObject
        {
            ["id"] = id,
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = name, ["arguments"] = ChatMessages.Arguments(Required(item, "arguments", at), $"{at}.arguments") },
        });
    }

    /// <summary>A built-in tool run this server reported (an <c>mcp_call</c> item sent back): the call, and its result as a tool message.</summary>
    private static (string Id, JsonObject Call, JsonObject Result) ToolRun(JsonElement item, string at)
    {
        foreach (var p in item.EnumerateObject())
        {
            if (p.Name is not ("type" or "id" or "server_label" or "name" or "arguments" or "output" or "error" or "status" or "approval_request_id"))
                throw ApiException.BadRequest($"'{at}.{p.Name}' is not supported", $"{at}.{p.Name}", "unknown_parameter");
        }

        string id = Required(item, "id", at);
        string name = Required(item, "name", at);
        var call = new JsonObject
        {
            ["id"] = id,
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = name, ["arguments"] = ChatMessages.Arguments(Required(item, "arguments", at), $"{at}.arguments") },
        };
        string output = ResponsesRequest.StringField(item, "output", at) ?? "";
        return (id, call, new JsonObject { ["role"] = "tool", ["tool_call_id"] = id, ["name"] = name, ["content"] = output });
    }

    private static JsonObject FunctionCallOutput(JsonElement item, string at, Dictionary<string, string> calls)
    {
        foreach (var p in item.EnumerateObject())
        {
            if (p.Name is not ("type" or "id" or "call_id" or "output" or "status"))
                throw ApiException.BadRequest($"'{at}.{p.Name}' is not supported", $"{at}.{p.Name}", "unknown_parameter");
        }

        string id = Required(item, "call_id", at);
        if (!calls.TryGetValue(id, out string? name))
            throw ApiException.BadRequest($"'{at}.call_id' '{id}' answers no earlier function_call in 'input'", $"{at}.call_id");
        if (!item.TryGetProperty("output", out var output) || output.ValueKind == JsonValueKind.Null)
            throw ApiException.BadRequest($"'{at}.output' is required", $"{at}.output", "missing_required_parameter");
        return new JsonObject { ["role"] = "tool", ["tool_call_id"] = id, ["name"] = name, ["content"] = Text(output, $"{at}.output", "input_text") };
    }

    private static string Required(JsonElement item, string name, string at) =>
        ResponsesRequest.StringField(item, name, at) ?? throw ApiException.BadRequest($"'{at}.{name}' is required", $"{at}.{name}", "missing_required_parameter");
}
