using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

public sealed class ToolCallMistralTests
{
    private static ParsedMessage Parse(string message) => ToolCallHarness.Parse(ToolCallFormat.Mistral, message);

    [Fact]
    public void Nemo_style_call_keeps_its_id()
    {
        var parsed = Parse("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abc123XYZ\"}]");

        Assert.Equal(new ToolCall("abc123XYZ", "get_weather", "{\"city\": \"Paris\"}"), parsed.Single());
        Assert.Equal("", parsed.Content);
    }

    [Fact]
    public void Parallel_calls_in_one_array_are_parsed_in_order()
    {
        var parsed = Parse("Sure, checking both.[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"aaaaaaaa1\"}, " +
            "{\"name\": \"get_time\", \"arguments\": {\"zone\": \"Asia/Tokyo\"}, \"id\": \"aaaaaaaa2\"}]");

        Assert.Equal("Sure, checking both.", parsed.Content);
        Assert.Equal(
            [new ToolCall("aaaaaaaa1", "get_weather", "{\"city\": \"Paris\"}"), new ToolCall("aaaaaaaa2", "get_time", "{\"zone\": \"Asia/Tokyo\"}")],
            parsed.Calls);
    }

    [Fact]
    public void Newer_name_args_form_is_parsed()
    {
        var parsed = Parse("[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\", \"unit\": \"c\"}");

        Assert.Equal(new ToolCall("call_1", "get_weather", "{\"city\": \"Paris\", \"unit\": \"c\"}"), parsed.Single());
    }

    [Fact]
    public void Newer_form_with_parallel_calls_and_call_ids_is_parsed()
    {
        var parsed = Parse("[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_weather[CALL_ID]k9Xz2Lp0Q[ARGS]{\"city\": \"Tokyo\"}");

        Assert.Equal(
            [new ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}"), new ToolCall("k9Xz2Lp0Q", "get_weather", "{\"city\": \"Tokyo\"}")],
            parsed.Calls);
    }

    [Fact]
    public void A_missing_id_gets_nine_letters_and_digits_as_the_template_requires()
    {
        var parsed = ToolCallParser.Parse(ToolCallFormat.Mistral, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}]");

        Assert.Matches("^[A-Za-z0-9]{9}$", Assert.Single(parsed.Calls).Id);
    }

    [Fact]
    public void Unicode_in_arguments_is_kept_as_written()
    {
        const string arguments = "{\"city\": \"Zürich\", \"note\": \"日本語 🙂\"}";

        Assert.Equal(arguments, Parse($"[TOOL_CALLS][{{\"name\": \"f\", \"arguments\": {arguments}}}]").Single().Arguments);
        Assert.Equal(arguments, Parse($"[TOOL_CALLS]f[ARGS]{arguments}").Single().Arguments);
    }

    [Fact]
    public void Brackets_that_are_not_the_marker_stay_content()
    {
        const string text = "Use [INST] and [TOOL] or [TOOL_CALL] in text, even [TOOL_CALLS";

        var parsed = Parse(text);

        Assert.Equal(text, parsed.Content);
        Assert.Empty(parsed.Calls);
    }
}
