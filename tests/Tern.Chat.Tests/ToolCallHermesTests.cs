using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

public sealed class ToolCallHermesTests
{
    private static ParsedMessage Parse(string message) => ToolCallHarness.Parse(ToolCallFormat.Hermes, message);

    [Fact]
    public void Qwen_style_call_is_parsed_and_leaves_no_content()
    {
        var parsed = Parse("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>");

        Assert.Equal(new ToolCall("call_1", "get_weather", "{\"city\": \"Paris\", \"unit\": \"c\"}"), parsed.Single());
        Assert.Equal("", parsed.Content);
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void Parallel_calls_are_parsed_in_order_with_the_content_before_them()
    {
        var parsed = Parse(
            "Let me check both cities.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n" +
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Tokyo\"}}\n</tool_call>");

        Assert.Equal("Let me check both cities.", parsed.Content);
        Assert.Equal(
            [new ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}"), new ToolCall("call_2", "get_weather", "{\"city\": \"Tokyo\"}")],
            parsed.Calls);
    }

    [Fact]
    public void Content_on_both_sides_of_a_call_keeps_one_separator()
    {
        var parsed = Parse("Checking.\n\n<tool_call>\n{\"name\": \"time\", \"arguments\": {}}\n</tool_call>\n\nI will report back.\n");

        Assert.Equal("Checking.\n\nI will report back.\n", parsed.Content);
        Assert.Equal("time", parsed.Single().Name);
    }

    [Fact]
    public void Arguments_keep_the_models_key_order_and_text()
    {
        const string arguments = "{\"z\": 1, \"a\": {\"y\": [1, 2.50], \"b\": null}, \"m\": \"\\u00e9\\n\"}";

        var parsed = Parse($"<tool_call>{{\"name\": \"f\", \"arguments\": {arguments}}}</tool_call>");

        Assert.Equal(arguments, parsed.Single().Arguments);
    }

    [Fact]
    public void Unicode_in_arguments_is_kept_as_written()
    {
        const string arguments = "{\"city\": \"Zürich\", \"note\": \"日本語 — 🙂\", \"rtl\": \"שלום\"}";

        var parsed = Parse($"Voilà 🙂\n<tool_call>\n{{\"name\": \"get_weather\", \"arguments\": {arguments}}}\n</tool_call>");

        Assert.Equal(arguments, parsed.Single().Arguments);
        Assert.Equal("Voilà 🙂", parsed.Content);
    }

    [Fact]
    public void A_closing_tag_inside_a_json_string_does_not_end_the_call()
    {
        const string arguments = "{\"path\": \"notes.md\", \"content\": \"end a call with </tool_call> and {braces\\\" }\"}";

        var parsed = Parse($"<tool_call>\n{{\"name\": \"write_file\", \"arguments\": {arguments}}}\n</tool_call>");

        Assert.Equal(new ToolCall("call_1", "write_file", arguments), parsed.Single());
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void Text_that_only_resembles_the_markup_stays_content()
    {
        const string text = "if a < b then <b>bold</b>, <tool_response> and <tool_calls> are not calls; neither is <tool_call";

        var parsed = Parse(text);

        Assert.Equal(text, parsed.Content);
        Assert.Empty(parsed.Calls);
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void Arguments_written_as_a_json_string_are_unwrapped()
    {
        var parsed = Parse("<tool_call>{\"name\": \"search\", \"arguments\": \"{\\\"q\\\": \\\"kittens\\\"}\"}</tool_call>");

        Assert.Equal("{\"q\": \"kittens\"}", parsed.Single().Arguments);
    }

    [Fact]
    public void A_call_without_arguments_gets_an_empty_object()
    {
        Assert.Equal("{}", Parse("<tool_call>{\"name\": \"time\"}</tool_call>").Single().Arguments);
    }

    [Fact]
    public void An_array_of_calls_in_one_block_gives_each_call()
    {
        var parsed = Parse("<tool_call>[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {\"x\": 1}}]</tool_call>");

        Assert.Equal([new ToolCall("call_1", "a", "{}"), new ToolCall("call_2", "b", "{\"x\": 1}")], parsed.Calls);
    }

    [Fact]
    public void An_id_given_by_the_model_is_kept()
    {
        Assert.Equal("abc", Parse("<tool_call>{\"name\": \"a\", \"arguments\": {}, \"id\": \"abc\"}</tool_call>").Single().Id);
    }

    [Fact]
    public void Default_ids_are_unique_openai_style()
    {
        var parsed = ToolCallParser.Parse(ToolCallFormat.Hermes,
            "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call><tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>");

        Assert.All(parsed.Calls, call => Assert.Matches("^call_[A-Za-z0-9]{24}$", call.Id));
        Assert.NotEqual(parsed.Calls[0].Id, parsed.Calls[1].Id);
    }
}
