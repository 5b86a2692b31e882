using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Chat.ToolCalls;
using Tern.Runtime.Grammar;

namespace Tern.Server;

/// <summary>
/// The grammar of a forced tool call (<c>tool_choice: "required"</c> or a named function): the model family's own
/// call markup around arguments valid against the function's JSON schema, so the call parses, names a tool the request
/// offers, and its arguments validate, whatever the weights. Several calls in a row when parallel calls are allowed.
/// </summary>
internal static class ToolCallGrammar
{
    /// <param name="only">The one function the call must name; null: any of <paramref name="tools"/>.</param>
    /// <param name="closeReasoning">The marker that closes a reasoning block the prompt left open (written first), or null.</param>
    public static Grammar For(ToolCallFormat format, JsonArray tools, string? only, bool parallel, string? closeReasoning)
    {
        var b = new JsonSchemaGrammar();
        string call = Calls(b, format, tools, only, strict: _ => true, "tool_choice");
        string sequence = parallel ? $"{call} (\"\\n\" {call})*" : call;
        b.AddRule("root", closeReasoning is null ? sequence : $"{GbnfText.Literal(closeReasoning + "\n\n")} {sequence}");
        return b.Build("root");
    }

    /// <summary>
    /// The lazy grammar of strict tools (<c>"strict": true</c> under <c>tool_choice: "auto"</c>): one call, from its
    /// opening markup (the trigger) to its close; the calls of strict tools take their schema's arguments, the others
    /// any arguments. Only formats whose calls open with markup of their own can be enforced lazily. Null when no tool
    /// is strict.
    /// </summary>
    public static (Grammar Grammar, string Trigger)? Lazy(ToolCallFormat format, JsonArray? tools, IReadOnlySet<string> strictNames)
    {
        if (tools is null || strictNames.Count == 0)
            return null;
        bool Strict(int i) => strictNames.Contains(tools[i]!["function"]!["name"]!.GetValue<string>());
        if (format is not (ToolCallFormat.Hermes or ToolCallFormat.QwenXml))
            throw ApiException.BadRequest($"\"strict\": true tools cannot be enforced in this model's tool-call format ({format}): its calls have no opening markup to start a grammar at", "tools");
        var b = new JsonSchemaGrammar();
        b.AddRule("root", Calls(b, format, tools, only: null, Strict, "tools"));
        return (b.Build("root"), "<tool_call>");
    }

    /// <summary>The rule of one call to any of the tools (or the one named <paramref name="only"/>).</summary>
    private static string Calls(JsonSchemaGrammar b, ToolCallFormat format, JsonArray tools, string? only, Func<int, bool> strict, string param)
    {
        var calls = new List<string>();
        for (int i = 0; i < tools.Count; i++)
        {
            var function = tools[i]!["function"]!;
            string name = function["name"]!.GetValue<string>();
            if (only is not null && name != only)
                continue;
            string at = $"tools[{i}].function.parameters";
            try
            {
                calls.Add(b.AddRule($"call-{name}", Call(b, format, name, strict(i) ? function["parameters"] : null, at, param)));
            }
            catch (GrammarException e)
            {
                throw ApiException.BadRequest($"'{at}' cannot be enforced: {e.Message}", at);
            }
        }

        return calls.Count > 0
            ? b.AddRule("call", string.Join(" | ", calls))
            : throw ApiException.BadRequest($"'tool_choice' names the function '{only}', which is not in 'tools'", "tool_choice");
    }

    /// <summary>One call's GBNF body in <paramref name="format"/>; without <paramref name="parameters"/>, any arguments.</summary>
    private static string Call(JsonSchemaGrammar b, ToolCallFormat format, string name, JsonNode? parameters, string at, string param)
    {
        string quoted = JsonSerializer.Serialize(name);
        return format switch
        {
            ToolCallFormat.Hermes => $"{Lit($"<tool_call>\n{{\"name\": {quoted}, \"arguments\": ")} {Arguments(b, name, parameters)} {Lit("}\n</tool_call>")}",
            ToolCallFormat.Llama3 => $"{Lit($"{{\"name\": {quoted}, \"parameters\": ")} {Arguments(b, name, parameters)} {Lit("}")}",
            ToolCallFormat.Generic => $"{Lit($"{{\"name\": {quoted}, \"arguments\": ")} {Arguments(b, name, parameters)} {Lit("}")}",
            ToolCallFormat.QwenXml => $"{Lit($"<tool_call>\n<function={name}>\n")} {XmlParameters(b, name, parameters, at)} {Lit("</function>\n</tool_call>")}",
            _ => throw ApiException.BadRequest($"'{param}' cannot be enforced in this model's tool-call format ({format})", param),
        };
    }

    private static string Lit(string text) => GbnfText.Literal(text);

    /// <summary>The arguments object: the function's parameter schema, or any object when it gives none.</summary>
    private static string Arguments(JsonSchemaGrammar b, string name, JsonNode? parameters)
    {
        using var schema = JsonDocument.Parse(parameters?.ToJsonString() ?? """{"type": "object"}""");
        return b.AddSchema(schema.RootElement.Clone(), $"{name}-arguments");
    }

    /// <summary>
    /// Qwen XML parameters: each property of the object schema as <c>&lt;parameter=NAME&gt;\nVALUE\n&lt;/parameter&gt;\n</c>, in
    /// the schema's order, required ones always and the others optionally. A string value is bare text without '&lt;',
    /// at most <see cref="MaxBareText"/> characters (or one of its enum values); any other value is JSON valid against its schema, as the parser reads it.
    /// </summary>
    private static string XmlParameters(JsonSchemaGrammar b, string function, JsonNode? parameters, string at)
    {
        if (parameters is null) // any parameters
            return b.AddRule("xml-any-parameter", $"(\"<parameter=\" [^>\\n<]+ \">\\n\" [^<]{{0,{MaxBareText}}} \"\\n</parameter>\\n\")*");
        if (parameters is not JsonObject schema || schema["type"]?.GetValue<string>() != "object")
            throw ApiException.BadRequest($"'{at}' must be an object schema to force a call in this model's XML call format", at);
        var required = schema["required"]?.AsArray().Select(r => r?.GetValue<string>()).ToHashSet() ?? [];
        var parts = new List<string>();
        foreach (var (name, property) in schema["properties"]?.AsObject() ?? [])
        {
            string value = XmlValue(b, function, name, property, $"{at}.properties.{name}");
            string part = $"{Lit($"<parameter={name}>\n")} {value} {Lit("\n</parameter>\n")}";
            parts.Add(required.Contains(name) ? part : $"({part})?");
        }

        return parts.Count == 0 ? "\"\"" : string.Join(" ", parts);
    }

    /// <summary>The longest bare-text value a forced XML call may write (a stricter bound than the schema's, never looser).</summary>
    private const int MaxBareText = 512;

    private static readonly HashSet<string> StringAnnotations = ["type", "description", "title", "default", "examples"];

    private static string XmlValue(JsonSchemaGrammar b, string function, string name, JsonNode? property, string at)
    {
        if (property is JsonObject p && p["type"] is JsonValue type && type.GetValueKind() == JsonValueKind.String && type.GetValue<string>() == "string")
        {
            if (p["enum"] is JsonArray values && p.All(kv => kv.Key == "enum" || StringAnnotations.Contains(kv.Key)))
                return "(" + string.Join(" | ", values.Select(v => Lit(v!.GetValue<string>()))) + ")";
            if (p.Any(kv => !StringAnnotations.Contains(kv.Key)))
                throw ApiException.BadRequest($"'{at}' constrains a string ({string.Join(", ", p.Select(kv => kv.Key).Where(k => !StringAnnotations.Contains(k)))}), which the XML call format writes as bare text; only plain strings and enums can be forced", at);
            return b.AddRule("xml-text", $"[^<]{{0,{MaxBareText}}}");
        }

        using var schema = JsonDocument.Parse(property?.ToJsonString() ?? "true");
        return b.AddSchema(schema.RootElement.Clone(), $"{function}-{name}");
    }
}
