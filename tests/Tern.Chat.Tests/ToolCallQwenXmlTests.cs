using System.Text.Json.Nodes;
using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

/// <summary>Qwen3.5 / Qwen3.6 and Qwen3-Coder's XML calls: values are bare text, typed by the tool's JSON schema.</summary>
public sealed class ToolCallQwenXmlTests
{
    private static readonly JsonArray Tools = JsonNode.Parse("""
        [
          {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}}}},
          {"type": "function", "function": {"name": "configure", "parameters": {"type": "object", "properties": {
            "count": {"type": "integer"}, "ratio": {"type": "number"}, "verbose": {"type": "boolean"},
            "options": {"type": "object"}, "tags": {"type": "array", "items": {"type": "string"}},
            "note": {"type": "string"}, "code": {"type": "string"}, "limit": {"type": ["integer", "null"]},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}}}}
        ]
        """)!.AsArray();

    private static ParsedMessage Parse(string message, JsonArray? tools = null) => ToolCallHarness.Parse(ToolCallFormat.QwenXml, message, tools ?? Tools);

    private static string Call(string name, params (string Name, string Value)[] parameters) =>
        $"<tool_call>\n<function={name}>\n" + string.Concat(parameters.Select(p => $"<parameter={p.Name}>\n{p.Value}\n</parameter>\n")) + "</function>\n</tool_call>";

    [Fact]
    public void A_call_as_the_template_writes_it_is_parsed_and_leaves_no_content()
    {
        var parsed = Parse(Call("get_weather", ("city", "Paris"), ("unit", "c")));

        Assert.Equal(new ToolCall("call_1", "get_weather", "{\"city\":\"Paris\",\"unit\":\"c\"}"), parsed.Single());
        Assert.Equal("", parsed.Content);
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void Values_are_typed_by_the_tools_json_schema()
    {
        var parsed = Parse(Call("configure",
            ("count", "3"), ("ratio", "0.25"), ("verbose", "True"), ("options", "{\"depth\": 2, \"mode\": \"fast\"}"),
            ("tags", "[\"a\", \"b\"]"), ("note", "007"), ("code", "{\"not\": \"parsed\"}"), ("limit", "null"), ("either", "12")));

        var arguments = JsonNode.Parse(parsed.Single().Arguments)!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"count": 3, "ratio": 0.25, "verbose": true, "options": {"depth": 2, "mode": "fast"}, "tags": ["a", "b"],
             "note": "007", "code": "{\"not\": \"parsed\"}", "limit": null, "either": "12"}
            """), arguments), parsed.Single().Arguments);
    }

    [Fact]
    public void String_values_are_kept_verbatim_across_lines_with_markup_inside()
    {
        const string code = "def f():\n    return \"</tool_call> <function=x> {braces}\"\n\n  trailing spaces  ";

        var parsed = Parse(Call("configure", ("code", code)));

        Assert.Equal(code, JsonNode.Parse(parsed.Single().Arguments)!["code"]!.GetValue<string>());
    }

    [Fact]
    public void A_value_that_does_not_fit_its_type_stays_a_string()
    {
        var parsed = Parse(Call("configure", ("count", "three"), ("options", "{broken")));

        Assert.Equal("{\"count\":\"three\",\"options\":\"{broken\"}", parsed.Single().Arguments);
    }

    [Fact]
    public void Without_a_schema_values_are_typed_as_best_effort()
    {
        var parsed = Parse(Call("unknown_tool", ("n", "42"), ("flag", "false"), ("list", "[1, 2]"), ("city", "Paris"), ("empty", "")), tools: []);

        Assert.Equal("{\"n\":42,\"flag\":false,\"list\":[1, 2],\"city\":\"Paris\",\"empty\":\"\"}", parsed.Single().Arguments);
    }

    [Fact]
    public void Values_without_surrounding_newlines_and_calls_without_parameters_are_read()
    {
        var parsed = Parse("<tool_call><function=get_weather><parameter=city>Paris</parameter></function></tool_call>" +
            "<tool_call>\n<function=list_cities>\n</function>\n</tool_call>");

        Assert.Equal([new ToolCall("call_1", "get_weather", "{\"city\":\"Paris\"}"), new ToolCall("call_2", "list_cities", "{}")], parsed.Calls);
    }

    [Fact]
    public void Content_before_and_after_parallel_calls_is_kept()
    {
        var parsed = Parse("Let me check both cities.\n\n" + Call("get_weather", ("city", "Paris")) + "\n" +
            Call("get_weather", ("city", "Zürich 🙂")) + "\n\nOne moment.");

        Assert.Equal("Let me check both cities.\n\nOne moment.", parsed.Content);
        Assert.Equal(["{\"city\":\"Paris\"}", "{\"city\":\"Zürich 🙂\"}"], parsed.Calls.Select(c => c.Arguments));
    }

    [Fact]
    public void Text_that_only_looks_like_the_start_of_a_call_is_content()
    {
        var parsed = Parse("Use <tool or <function=x> freely.");

        Assert.Equal("Use <tool or <function=x> freely.", parsed.Content);
        Assert.Empty(parsed.Calls);
    }

    [Fact]
    public void Malformed_tools_in_the_request_are_ignored()
    {
        var tools = JsonNode.Parse("""
            [1, "x", null, {}, {"function": 3}, {"function": {"name": 5}}, {"function": {"name": "configure", "parameters": {"properties": []}}},
             {"type": "function", "function": {"name": "configure", "parameters": {"properties": {"count": {"type": 7}}}}}]
            """)!.AsArray();

        var parsed = Parse(Call("configure", ("count", "3")), tools);

        Assert.Equal("{\"count\":3}", parsed.Single().Arguments);
    }

    [Fact]
    public void A_long_value_streamed_in_small_pieces_is_parsed_whole()
    {
        string code = string.Concat(Enumerable.Repeat("line with </tool_call>, <parameter=x> and </paramete text\n", 2000));
        string message = Call("configure", ("code", code));
        var parser = ToolCallParser.Create(ToolCallFormat.QwenXml, tools: Tools);

        for (int at = 0; at < message.Length; at += 3)
            Assert.Equal("", parser.Push(message.Substring(at, Math.Min(3, message.Length - at))).Content);
        parser.Finish();

        Assert.Equal(code, JsonNode.Parse(Assert.Single(parser.Calls).Arguments)!["code"]!.GetValue<string>());
    }
}
