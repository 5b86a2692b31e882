using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Runtime.Sampling;

namespace Tern.Server;

/// <summary>
/// A validated POST /v1/responses request: <c>input</c> and <c>instructions</c> turned into the chat messages the template
/// gets (the shape <see cref="ChatMessages.Read"/> produces), function tools into the chat <c>tools</c> shape, the sampling
/// parameters, and <see cref="Echo"/>: the request's settings as the response object repeats them. Every field either works,
/// is on the short list of fields accepted and ignored (<see cref="Ignored"/>), or gets a 400 naming it.
/// </summary>
internal sealed record ResponsesRequest(
    JsonArray Messages,
    JsonArray? Tools,
    bool ToolsOff,
    bool ParallelToolCalls,
    SamplingParams Sampling,
    int? MaxOutputTokens,
    bool Stream,
    IReadOnlyDictionary<string, JsonNode?>? Kwargs,
    JsonObject Echo,
    bool ForceCall = false,
    string? ForcedFunction = null,
    Tern.Runtime.Grammar.Grammar? Grammar = null)
{
    /// <summary>Fields accepted for compatibility and ignored: they change nothing a local, stateless server does.</summary>
    public static readonly IReadOnlySet<string> Ignored = new HashSet<string>
    {
        "metadata", "user", "service_tier", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "include", "stream_options",
    };

    private static readonly HashSet<string> Known =
    [
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens", "temperature", "top_p",
        "text", "reasoning", "stream", "store", "previous_response_id", "truncation", "background", BuiltinTools.Field,
    ];

    public static ResponsesRequest Read(JsonRequest r, ServedModel model)
    {
        foreach (var p in r.Root.EnumerateObject())
        {
            // A null asks for nothing (some clients send every field they know, unset ones as null).
            if (!Known.Contains(p.Name) && !Ignored.Contains(p.Name) && p.Value.ValueKind != JsonValueKind.Null)
                throw ApiException.BadRequest($"'{p.Name}' is not supported by this server's Responses API", p.Name, "unknown_parameter");
        }

        Stateless(r);
        IgnoredFields(r);
        _ = r.String("model");
        string? instructions = r.String("instructions");
        var messages = ResponsesInput.Read(r, instructions);
        var (tools, flatTools) = ReadTools(r);
        var choice = ToolChoice(r);
        var format = TextFormat(r);
        // text.format json_object / json_schema: the reply is generated under its grammar (its shape was checked above)
        var grammar = r.Element("text") is { } text && text.TryGetProperty("format", out var f) && f.ValueKind != JsonValueKind.Null
            ? StructuredOutput.TextFormat(f, "text.format")
            : null;
        var (reasoning, kwargs) = Reasoning(r, model);
        var sampling = model.Defaults with
        {
            Temperature = (float)(r.Number("temperature", 0, 2) ?? model.Defaults.Temperature),
            TopP = (float)(r.Number("top_p", 0, 1) ?? model.Defaults.TopP),
        };
        if (sampling.TopP == 0)
            throw ApiException.BadRequest("'top_p' must be above 0", "top_p");
        int? maxOutputTokens = (int?)r.Integer("max_output_tokens", 1, int.MaxValue);
        bool parallel = r.Bool("parallel_tool_calls") ?? true;
        var echo = new JsonObject
        {
            ["instructions"] = instructions,
            ["max_output_tokens"] = maxOutputTokens,
            ["parallel_tool_calls"] = parallel,
            ["reasoning"] = reasoning,
            ["temperature"] = sampling.Temperature,
            ["text"] = new JsonObject { ["format"] = format },
            ["tool_choice"] = choice,
            ["tools"] = flatTools,
            ["top_p"] = sampling.TopP,
            ["user"] = r.String("user"),
            ["metadata"] = r.Element("metadata") is { } m ? JsonNode.Parse(m.GetRawText()) : new JsonObject(),
        };
        bool toolsOff = choice is JsonValue v && v.GetValue<string>() == "none";
        return new ResponsesRequest(messages, tools, toolsOff, parallel, sampling, maxOutputTokens, r.Bool("stream") ?? false, kwargs, echo,
            ForceCall: choice is JsonObject || choice.GetValue<string>() == "required", ForcedFunction: choice is JsonObject named ? named["name"]!.GetValue<string>() : null,
            Grammar: grammar);
    }

    /// <summary>Nothing is kept between requests (as llama-server and Ollama): a request cannot ask to store or continue one.</summary>
    private static void Stateless(JsonRequest r)
    {
        if (r.Bool("store") == true)
            throw ApiException.BadRequest("'store': true is not supported: this server keeps no responses (send 'store': false or leave it out)", "store");
        if (r.Has("previous_response_id"))
            throw ApiException.BadRequest("'previous_response_id' is not supported: this server keeps no responses; send the whole conversation in 'input'", "previous_response_id");
        if (r.Bool("background") == true)
            throw ApiException.BadRequest("'background': true is not supported: responses are answered on the request", "background");
        if (r.String("truncation") is { } truncation && truncation != "disabled")
            throw ApiException.BadRequest($"'truncation' '{truncation}' is not supported: only 'disabled' (a prompt over the context is refused)", "truncation");
    }

    /// <summary>The ignored fields are still checked for their type, so a malformed request is refused whatever it holds.</summary>
    private static void IgnoredFields(JsonRequest r)
    {
        foreach (string name in (string[])["user", "service_tier", "safety_identifier", "prompt_cache_key", "prompt_cache_retention"])
            _ = r.String(name);
        if (r.Element("metadata") is { } metadata)
        {
            if (metadata.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType("metadata", metadata, "an object");
            foreach (var p in metadata.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw JsonRequest.WrongType($"metadata.{p.Name}", p.Value, "a string");
            }
        }

        if (r.Element("include") is { } include)
        {
            // Reasoning comes back as plain text in the reasoning item, so there is nothing to encrypt; other inclusions are not served.
            if (include.ValueKind != JsonValueKind.Array)
                throw JsonRequest.WrongType("include", include, "an array");
            int i = 0;
            foreach (var item in include.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String || item.GetString() != "reasoning.encrypted_content")
                    throw ApiException.BadRequest($"'include[{i}]' is not supported (only \"reasoning.encrypted_content\", which is accepted and ignored)", $"include[{i}]");
                i++;
            }
        }

        if (r.Element("stream_options") is { } options)
        {
            if (options.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType("stream_options", options, "an object");
            foreach (var p in options.EnumerateObject())
            {
                if (p.Name != "include_obfuscation" || p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
                    throw ApiException.BadRequest($"'stream_options.{p.Name}' is not supported (only include_obfuscation, a boolean: events are never obfuscated)", $"stream_options.{p.Name}");
            }
        }
    }

    /// <summary>Function tools, flat as the Responses API writes them, in the chat shape for the template (strict ones marked); the flat list to echo.</summary>
    private static (JsonArray? Chat, JsonArray Flat) ReadTools(JsonRequest r)
    {
        var chat = new JsonArray();
        var flat = new JsonArray();
        if (r.Element("tools") is not { } tools)
            return (null, flat);
        if (tools.ValueKind != JsonValueKind.Array)
            throw JsonRequest.WrongType("tools", tools, "an array");
        int i = 0;
        foreach (var t in tools.EnumerateArray())
        {
            string at = $"tools[{i++}]";
            if (t.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType(at, t, "an object");
            string type = StringField(t, "type", at) ?? throw ApiException.BadRequest($"'{at}.type' is required", $"{at}.type", "missing_required_parameter");
            if (type != "function")
                throw ApiException.BadRequest($"'{at}.type' '{type}' is not supported: this server runs function tools only", $"{at}.type");
            string name = StringField(t, "name", at) ?? throw ApiException.BadRequest($"'{at}.name' is required", $"{at}.name", "missing_required_parameter");
            var function = new JsonObject { ["name"] = name };
            foreach (var p in t.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "type" or "name":
                        break;
                    case "description":
                        function["description"] = StringField(t, "description", at);
                        break;
                    case "parameters" when p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Null:
                        function["parameters"] = JsonNode.Parse(p.Value.GetRawText());
                        break;
                    case "parameters":
                        throw JsonRequest.WrongType($"{at}.parameters", p.Value, "an object");
                    case "strict" when p.Value.ValueKind == JsonValueKind.True:
                        function["strict"] = true; // its calls are generated under its schema (ChatMessages.StrictTools)
                        break;
                    case "strict" when p.Value.ValueKind is JsonValueKind.False or JsonValueKind.Null:
                        break;
                    case "strict":
                        throw JsonRequest.WrongType($"{at}.strict", p.Value, "a boolean");
                    default:
                        throw ApiException.BadRequest($"'{at}.{p.Name}' is not supported", $"{at}.{p.Name}", "unknown_parameter");
                }
            }

            chat.Add(new JsonObject { ["type"] = "function", ["function"] = function });
            flat.Add(JsonNode.Parse(t.GetRawText()));
        }

        return (chat.Count == 0 ? null : chat, flat);
    }

    /// <summary><c>tool_choice</c>: "auto", "none", "required" or a named function (the last two force the first turn's call).</summary>
    private static JsonNode ToolChoice(JsonRequest r)
    {
        if (r.Element("tool_choice") is not { } choice)
            return "auto";
        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() is "auto" or "none" or "required"
                ? choice.GetString()!
                : throw ApiException.BadRequest($"'tool_choice' must be 'auto', 'none', 'required' or {{\"type\": \"function\", \"name\": ...}}; got '{choice.GetString()}'", "tool_choice");
        }

        if (choice.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("tool_choice", choice, "a string or an object");
        string? type = StringField(choice, "type", "tool_choice");
        if (type != "function")
            throw ApiException.BadRequest($"'tool_choice.type' '{type}' is not supported: only a function can be chosen", "tool_choice.type");
        string name = StringField(choice, "name", "tool_choice") ?? throw ApiException.BadRequest("'tool_choice.name' is required", "tool_choice.name", "missing_required_parameter");
        if (!r.Root.TryGetProperty("tools", out var tools) || tools.ValueKind != JsonValueKind.Array
            || !tools.EnumerateArray().Any(t => t.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() == name))
            throw ApiException.BadRequest($"'tool_choice.name' '{name}' is not one of the request's tools", "tool_choice.name");
        return new JsonObject { ["type"] = "function", ["name"] = name };
    }

    /// <summary><c>text.format</c>: {"type": "text"}, "json_object" or "json_schema" (its shape checked here); <c>text.verbosity</c> is accepted and ignored.</summary>
    private static JsonObject TextFormat(JsonRequest r)
    {
        if (r.Element("text") is not { } text)
            return new JsonObject { ["type"] = "text" };
        if (text.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("text", text, "an object");
        JsonObject? format = null;
        foreach (var p in text.EnumerateObject())
        {
            if (p.Name == "verbosity")
                _ = StringField(text, "verbosity", "text");
            else if (p.Name == "format" && p.Value.ValueKind != JsonValueKind.Null)
                format = Format(p.Value);
            else if (p.Name != "format")
                throw ApiException.BadRequest($"'text.{p.Name}' is not supported", $"text.{p.Name}", "unknown_parameter");
        }

        return format ?? new JsonObject { ["type"] = "text" };
    }

    private static JsonObject Format(JsonElement format)
    {
        const string at = "text.format";
        if (format.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType(at, format, "an object");
        string type = StringField(format, "type", at) ?? throw ApiException.BadRequest($"'{at}.type' is required", $"{at}.type", "missing_required_parameter");
        string[] allowed = type switch
        {
            "text" or "json_object" => ["type"],
            "json_schema" => ["type", "name", "schema", "strict", "description"],
            _ => throw ApiException.BadRequest($"'{at}.type' must be 'text', 'json_object' or 'json_schema'; got '{type}'", $"{at}.type"),
        };
        foreach (var p in format.EnumerateObject())
        {
            if (!allowed.Contains(p.Name))
                throw ApiException.BadRequest($"'{at}.{p.Name}' is not supported with type '{type}'", $"{at}.{p.Name}", "unknown_parameter");
        }

        if (type == "json_schema")
        {
            string name = StringField(format, "name", at) ?? throw ApiException.BadRequest($"'{at}.name' is required", $"{at}.name", "missing_required_parameter");
            if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                throw ApiException.BadRequest($"'{at}.name' must be 1 to 64 letters, digits, '_' or '-'", $"{at}.name");
            if (!format.TryGetProperty("schema", out var schema))
                throw ApiException.BadRequest($"'{at}.schema' is required", $"{at}.schema", "missing_required_parameter");
            if (schema.ValueKind != JsonValueKind.Object)
                throw JsonRequest.WrongType($"{at}.schema", schema, "an object");
            _ = StringField(format, "description", at);
            if (format.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
                throw JsonRequest.WrongType($"{at}.strict", strict, "a boolean");
        }

        return (JsonObject)JsonNode.Parse(format.GetRawText())!;
    }

    private static readonly HashSet<string> Efforts = ["none", "minimal", "low", "medium", "high", "xhigh"];

    /// <summary>
    /// <c>reasoning.effort</c> becomes the template's <c>enable_thinking</c> when the template has that switch ("none" and
    /// "minimal": off, the others: on); a template without it thinks as it always does. <c>reasoning.summary</c> is accepted:
    /// the reasoning comes back whole, as the reasoning item's content.
    /// </summary>
    private static (JsonObject Echo, IReadOnlyDictionary<string, JsonNode?>? Kwargs) Reasoning(JsonRequest r, ServedModel model)
    {
        var echo = new JsonObject { ["effort"] = null, ["summary"] = null };
        if (r.Element("reasoning") is not { } reasoning)
            return (echo, null);
        if (reasoning.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("reasoning", reasoning, "an object");
        string? effort = null;
        foreach (var p in reasoning.EnumerateObject())
        {
            switch (p.Name)
            {
                case "effort":
                    effort = StringField(reasoning, "effort", "reasoning");
                    if (effort is not null && !Efforts.Contains(effort))
                        throw ApiException.BadRequest($"'reasoning.effort' must be one of {string.Join(", ", Efforts)}; got '{effort}'", "reasoning.effort");
                    echo["effort"] = effort;
                    break;
                case "summary" or "generate_summary":
                    echo["summary"] = StringField(reasoning, p.Name, "reasoning");
                    break;
                default:
                    throw ApiException.BadRequest($"'reasoning.{p.Name}' is not supported", $"reasoning.{p.Name}", "unknown_parameter");
            }
        }

        if (effort is null || !model.Template.Source.Contains("enable_thinking", StringComparison.Ordinal))
            return (echo, null);
        return (echo, new Dictionary<string, JsonNode?> { ["enable_thinking"] = effort is not ("none" or "minimal") });
    }

    /// <summary>A string member of <paramref name="o"/> (null when absent or null); another type is a 400 naming <c>at.name</c>.</summary>
    public static string? StringField(JsonElement o, string name, string at) =>
        !o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw JsonRequest.WrongType($"{at}.{name}", v, "a string");
}
