using System.Text.Json;
using Tern.Runtime.Grammar;

namespace Tern.Server;

/// <summary>
/// The structured-output fields of a completion request, read into one grammar that constrains sampling:
/// OpenAI's <c>response_format</c> (<c>text</c>, <c>json_object</c>, <c>json_schema</c> with <c>name</c>, <c>description</c>,
/// <c>schema</c>, <c>strict</c>) and llama-server's <c>json_schema</c> (a schema) and <c>grammar</c> (GBNF text). At most
/// one may constrain; a bad schema, an unsupported construct or bad GBNF is a 400 naming the parameter and the construct.
/// </summary>
internal static class StructuredOutput
{
    public static Grammar? Read(JsonRequest r)
    {
        var found = new List<(string Param, Func<Grammar> Build)>();
        if (r.Element("response_format") is { } format && ResponseFormat(format) is { } build)
            found.Add(("response_format", build));
        if (r.Element("json_schema") is { } schema)
            found.Add(("json_schema", () => FromSchema(schema, "json_schema")));
        if (r.Element("grammar") is { } grammar)
        {
            string text = grammar.ValueKind == JsonValueKind.String ? grammar.GetString()! : throw JsonRequest.WrongType("grammar", grammar, "a string of GBNF");
            found.Add(("grammar", () => Checked(() => Grammar.Parse(text), "grammar")));
        }

        if (found.Count > 1)
            throw ApiException.BadRequest($"only one of {string.Join(", ", found.Select(f => $"'{f.Param}'"))} may constrain the output", found[1].Param);
        return found.Count == 0 ? null : found[0].Build();
    }

    /// <summary>
    /// The Responses API's <c>text.format</c> (<paramref name="param"/> names it in errors): <c>{"type": "text"}</c>,
    /// <c>{"type": "json_object"}</c> or <c>{"type": "json_schema", "name", "schema", "strict", "description"}</c>
    /// (the chat form flattened); null for text.
    /// </summary>
    public static Grammar? TextFormat(JsonElement format, string param)
    {
        if (format.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType(param, format, "an object");
        string type = format.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw ApiException.BadRequest($"'{param}.type' must be 'text', 'json_object' or 'json_schema'", $"{param}.type");
        switch (type)
        {
            case "text":
                Only(format, param, "type");
                return null;
            case "json_object":
                Only(format, param, "type");
                return JsonSchemaGrammar.JsonObject();
            case "json_schema":
                Only(format, param, "type", "name", "description", "schema", "strict");
                return format.TryGetProperty("schema", out var s) && s.ValueKind != JsonValueKind.Null
                    ? FromSchema(s, $"{param}.schema")
                    : throw ApiException.BadRequest($"'{param}.schema' is required for type 'json_schema'", $"{param}.schema", "missing_required_parameter");
            default:
                throw ApiException.BadRequest($"'{param}.type' '{type}' is not one of 'text', 'json_object', 'json_schema'", $"{param}.type");
        }
    }

    /// <summary>The grammar response_format asks for; null for <c>text</c>.</summary>
    private static Func<Grammar>? ResponseFormat(JsonElement format)
    {
        if (format.ValueKind != JsonValueKind.Object)
            throw JsonRequest.WrongType("response_format", format, "an object");
        string type = format.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw ApiException.BadRequest("'response_format.type' must be 'text', 'json_object' or 'json_schema'", "response_format.type");
        switch (type)
        {
            case "text":
                Only(format, "response_format", "type");
                return null;
            case "json_object":
                // llama-server also takes a schema here
                Only(format, "response_format", "type", "schema");
                return format.TryGetProperty("schema", out var inline) && inline.ValueKind != JsonValueKind.Null
                    ? () => FromSchema(inline, "response_format.schema")
                    : JsonSchemaGrammar.JsonObject;
            case "json_schema":
                Only(format, "response_format", "type", "json_schema");
                if (!format.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object)
                    throw ApiException.BadRequest("'response_format.json_schema' must be an object with the 'schema'", "response_format.json_schema");
                Only(js, "response_format.json_schema", "name", "description", "schema", "strict");
                if (js.TryGetProperty("name", out var name) && name.ValueKind != JsonValueKind.String)
                    throw JsonRequest.WrongType("response_format.json_schema.name", name, "a string");
                if (js.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
                    throw JsonRequest.WrongType("response_format.json_schema.strict", strict, "a boolean");
                return js.TryGetProperty("schema", out var s) && s.ValueKind != JsonValueKind.Null
                    ? () => FromSchema(s, "response_format.json_schema.schema")
                    : JsonSchemaGrammar.JsonObject; // no schema: any JSON object
            default:
                throw ApiException.BadRequest($"'response_format.type' '{type}' is not one of 'text', 'json_object', 'json_schema'", "response_format.type");
        }
    }

    private static Grammar FromSchema(JsonElement schema, string param)
    {
        if (schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True))
            throw JsonRequest.WrongType(param, schema, "a JSON schema object");
        return Checked(() => JsonSchemaGrammar.FromSchema(schema), param);
    }

    /// <summary>Builds the grammar and starts a matcher on it (the first expansion is where a hostile grammar would blow up).</summary>
    private static Grammar Checked(Func<Grammar> build, string param)
    {
        try
        {
            var grammar = build();
            _ = new GrammarMatcher(grammar);
            return grammar;
        }
        catch (GrammarException e)
        {
            throw ApiException.BadRequest($"'{param}': {e.Message}", param, param == "grammar" ? "invalid_grammar" : "invalid_json_schema");
        }
    }

    private static void Only(JsonElement obj, string param, params string[] allowed)
    {
        foreach (var p in obj.EnumerateObject())
        {
            if (Array.IndexOf(allowed, p.Name) < 0)
                throw ApiException.BadRequest($"'{param}' has an unknown field '{p.Name}' (allowed: {string.Join(", ", allowed)})", $"{param}.{p.Name}");
        }
    }
}
