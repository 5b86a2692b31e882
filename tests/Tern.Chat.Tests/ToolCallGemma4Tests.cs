using System.Text.Json.Nodes;
using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

/// <summary>Gemma 4's calls: <c>&lt;|tool_call&gt;call:NAME{key:value}&lt;tool_call|&gt;</c> with <c>&lt;|"|&gt;</c>-delimited strings.</summary>
public sealed class ToolCallGemma4Tests
{
    private const string Q = "<|\"|>";

    private static ParsedMessage Parse(string message) => ToolCallHarness.Parse(ToolCallFormat.Gemma4, message);

    [Fact]
    public void A_call_as_the_template_writes_it_is_parsed_and_leaves_no_content()
    {
        var parsed = Parse($"<|tool_call>call:get_weather{{city:{Q}Paris{Q},unit:{Q}c{Q}}}<tool_call|>");

        Assert.Equal(new ToolCall("call_1", "get_weather", "{\"city\":\"Paris\",\"unit\":\"c\"}"), parsed.Single());
        Assert.Equal("", parsed.Content);
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void Values_of_every_type_are_converted_to_json()
    {
        var parsed = Parse($"<|tool_call>call:configure{{count:3,ratio:-2.5e3,verbose:true,quiet:False,none:None,missing:null," +
            $"options:{{depth:2,{Q}quoted key{Q}:{Q}x{Q}}},tags:[{Q}a{Q},{Q}b{Q}],matrix:[[1,2],[]],empty:{{}},word: plain text }}<tool_call|>");

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"count": 3, "ratio": -2.5e3, "verbose": true, "quiet": false, "none": null, "missing": null,
             "options": {"depth": 2, "quoted key": "x"}, "tags": ["a", "b"], "matrix": [[1, 2], []], "empty": {}, "word": "plain text"}
            """), JsonNode.Parse(parsed.Single().Arguments)), parsed.Single().Arguments);
    }

    [Fact]
    public void Strings_are_verbatim_and_markup_inside_them_does_not_end_the_call()
    {
        const string code = "if (a) { return \"x\"; } // ,:[] <tool_call|> <|tool_call>call:x{}\n\tdone";

        var parsed = Parse($"<|tool_call>call:write{{code:{Q}{code}{Q}}}<tool_call|>");

        Assert.Equal(code, JsonNode.Parse(parsed.Single().Arguments)!["code"]!.GetValue<string>());
    }

    [Fact]
    public void Content_before_parallel_calls_is_kept_and_the_tool_response_marker_ends_the_turn()
    {
        var parsed = Parse($"Checking both.\n<|tool_call>call:get_weather{{city:{Q}Paris{Q}}}<tool_call|>" +
            $"<|tool_call>call:get_weather{{city:{Q}Zürich 🙂{Q}}}<tool_call|><|tool_response>response:get_weather{{value:1}}<tool_response|>");

        Assert.Equal("Checking both.", parsed.Content);
        Assert.Equal(["{\"city\":\"Paris\"}", "{\"city\":\"Zürich 🙂\"}"], parsed.Calls.Select(c => c.Arguments));
    }

    [Fact]
    public void Content_after_a_call_is_kept()
    {
        var parsed = Parse($"<|tool_call>call:ping{{}}<tool_call|>\n\nI pinged it.");

        Assert.Equal("I pinged it.", parsed.Content);
        Assert.Equal(new ToolCall("call_1", "ping", "{}"), parsed.Single());
    }

    [Fact]
    public void A_long_call_streamed_in_small_pieces_is_parsed_whole()
    {
        string code = string.Concat(Enumerable.Repeat("line with <tool_call|>, {braces}, [brackets] and <|\" text\n", 2000));
        string message = $"<|tool_call>call:write_file{{path:{Q}a.txt{Q},content:{Q}{code}{Q}}}<tool_call|>";
        var parser = ToolCallParser.Create(ToolCallFormat.Gemma4);

        for (int at = 0; at < message.Length; at += 3)
            Assert.Equal("", parser.Push(message.Substring(at, Math.Min(3, message.Length - at))).Content);
        parser.Finish();

        Assert.Equal(code, JsonNode.Parse(Assert.Single(parser.Calls).Arguments)!["content"]!.GetValue<string>());
    }

    [Fact]
    public void Nesting_is_bounded()
    {
        string deep = string.Concat(Enumerable.Repeat("a:{", 100)) + new string('}', 100);

        var parsed = Parse($"<|tool_call>call:f{{{deep}}}<tool_call|>");

        Assert.Contains("nested deeper than 64", Assert.Single(parsed.Errors).Reason);
    }
}
