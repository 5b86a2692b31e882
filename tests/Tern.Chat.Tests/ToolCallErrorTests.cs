using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

/// <summary>Malformed calls never throw: each becomes a ToolCallError with the raw markup and a message for the model.</summary>
public sealed class ToolCallErrorTests
{
    public static TheoryData<ToolCallFormat, string, string, string> MalformedCalls() => new()
    {
        // format, message, the raw text reported, the start of the reason
        { ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>",
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>", "invalid JSON" },
        { ToolCallFormat.Hermes, "<tool_call>{\"arguments\": {\"city\": \"Paris\"}}</tool_call>",
            "<tool_call>{\"arguments\": {\"city\": \"Paris\"}}</tool_call>", "the call has no \"name\"" },
        { ToolCallFormat.Hermes, "<tool_call>{\"name\": \"\", \"arguments\": {}}</tool_call>",
            "<tool_call>{\"name\": \"\", \"arguments\": {}}</tool_call>", "\"name\" must be a non-empty string" },
        { ToolCallFormat.Hermes, "<tool_call>{\"name\": \"f\", \"arguments\": [1, 2]}</tool_call>",
            "<tool_call>{\"name\": \"f\", \"arguments\": [1, 2]}</tool_call>", "\"arguments\" must be a JSON object, not an array" },
        { ToolCallFormat.Hermes, "<tool_call>{\"name\": \"f\", \"arguments\": \"city=Paris\"}</tool_call>",
            "<tool_call>{\"name\": \"f\", \"arguments\": \"city=Paris\"}</tool_call>", "\"arguments\" must be a JSON object, not a string" },
        { ToolCallFormat.Hermes, "<tool_call>\n</tool_call>", "<tool_call>\n</tool_call>", "the call is empty" },
        { ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n",
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n", "the <tool_call> block is not closed" },
        { ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par",
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par", "the <tool_call> block is not closed" },
        { ToolCallFormat.Llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}",
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}", "the JSON of the call is incomplete" },
        { ToolCallFormat.Llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": Paris}}",
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": Paris}}", "invalid JSON" },
        { ToolCallFormat.Llama3, "<|python_tag|>{\"query\": \"x\"}", "<|python_tag|>{\"query\": \"x\"}", "the call has no \"name\"" },
        { ToolCallFormat.Llama3, "<|python_tag|>brave_search.call(query=\"x\"", "<|python_tag|>brave_search.call(query=\"x\"",
            "the built-in tool call is not closed" },
        { ToolCallFormat.Llama3, "<|python_tag|>brave_search.call(query=)", "<|python_tag|>brave_search.call(query=)",
            "the value of \"query\" is not" },
        { ToolCallFormat.Llama3, "<|python_tag|>brave_search.call(\"x\")", "<|python_tag|>brave_search.call(\"x\")",
            "expected an argument name" },
        { ToolCallFormat.Llama3, "<|python_tag|>", "<|python_tag|>", "nothing follows <|python_tag|>" },
        { ToolCallFormat.Mistral, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}",
            "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}", "the JSON of the calls is incomplete" },
        { ToolCallFormat.Mistral, "[TOOL_CALLS][{\"arguments\": {}}]", "[TOOL_CALLS][{\"arguments\": {}}]", "the call has no \"name\"" },
        { ToolCallFormat.Mistral, "[TOOL_CALLS]get_weather{\"city\": \"Paris\"}", "[TOOL_CALLS]get_weather{\"city\": \"Paris\"}",
            "the function name \"get_weather\" must be followed by [ARGS]" },
        { ToolCallFormat.Mistral, "[TOOL_CALLS]get_weather[ARGS]{\"city\": Paris}", "[TOOL_CALLS]get_weather[ARGS]{\"city\": Paris}",
            "invalid JSON" },
        { ToolCallFormat.Mistral, "[TOOL_CALLS]get_weather[ARGS]", "[TOOL_CALLS]get_weather[ARGS]",
            "[ARGS] must be followed by the arguments" },
        { ToolCallFormat.Mistral, "[TOOL_CALLS]", "[TOOL_CALLS]", "nothing follows [TOOL_CALLS]" },
        { ToolCallFormat.Generic, "```json\n{\"name\": \"f\", \"arguments\": {\"a\": 1,}}\n```",
            "```json\n{\"name\": \"f\", \"arguments\": {\"a\": 1,}}\n```", "invalid JSON" },
        { ToolCallFormat.Generic, "{\"name\": \"f\", \"arguments\": {\"a\": ", "{\"name\": \"f\", \"arguments\": {\"a\": ",
            "the JSON of the call is incomplete" },
        { ToolCallFormat.Generic, "{\"tool_calls\": [{\"name\": 7}]}", "{\"tool_calls\": [{\"name\": 7}]}",
            "\"name\" must be a non-empty string" },
        { ToolCallFormat.QwenXml, "<tool_call>\n{\"name\": \"f\"}\n</tool_call>", "<tool_call>\n{\"name\": \"f\"}\n</tool_call>",
            "<tool_call> must be followed by <function=NAME>" },
        { ToolCallFormat.QwenXml, "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n",
            "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n", "the <tool_call> block is not closed" },
        { ToolCallFormat.QwenXml, "<tool_call>\n<function=f>\n</function>\n", "<tool_call>\n<function=f>\n</function>\n",
            "the <tool_call> block is not closed" },
        { ToolCallFormat.QwenXml, "<tool_call>", "<tool_call>", "the <tool_call> block is not closed" },
        { ToolCallFormat.QwenXml, "<tool_call>\n<function=get\nweather>\n</function>\n</tool_call>",
            "<tool_call>\n<function=get\nweather>\n</function>\n</tool_call>", "the function name is not closed with '>'" },
        { ToolCallFormat.QwenXml, "<tool_call>\n<function=>\n</function>\n</tool_call>", "<tool_call>\n<function=>\n</function>\n</tool_call>",
            "the function name is empty" },
        { ToolCallFormat.QwenXml, "<tool_call>\n<function=f>\nhello\n</function>\n</tool_call>",
            "<tool_call>\n<function=f>\nhello\n</function>\n</tool_call>", "expected <parameter=NAME> or </function>" },
        { ToolCallFormat.QwenXml, "<tool_call><function=f><parameter=a>1</parameter><parameter=a>2</parameter></function></tool_call>",
            "<tool_call><function=f><parameter=a>1</parameter><parameter=a>2</parameter></function></tool_call>", "the parameter \"a\" is given twice" },
        { ToolCallFormat.QwenXml, "<tool_call><function=f></function>extra</tool_call>", "<tool_call><function=f></function>extra</tool_call>",
            "</function> must be followed by </tool_call>" },
        { ToolCallFormat.Gemma4, "<|tool_call>get_weather{}<tool_call|>", "<|tool_call>get_weather{}<tool_call|>", "the call must start with \"call:\"" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:get_weather{city:<|\"|>Paris}<tool_call|>", "<|tool_call>call:get_weather{city:<|\"|>Paris}<tool_call|>",
            "the <|tool_call> block is not closed" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}", "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}",
            "the <|tool_call> block is not closed" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:get_weather<tool_call|>", "<|tool_call>call:get_weather<tool_call|>",
            "the function name \"get_weather\" must be followed by {arguments}" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:{}<tool_call|>", "<|tool_call>call:{}<tool_call|>", "the function name is missing" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:f{a:1,a:2}<tool_call|>", "<|tool_call>call:f{a:1,a:2}<tool_call|>", "the argument \"a\" is given twice" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:f{a:1} extra<tool_call|>", "<|tool_call>call:f{a:1} extra<tool_call|>",
            "unexpected text after the arguments" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:f{a}<tool_call|>", "<|tool_call>call:f{a}<tool_call|>", "expected key:value" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:f{a:}<tool_call|>", "<|tool_call>call:f{a:}<tool_call|>", "a value is missing" },
        { ToolCallFormat.Gemma4, "<|tool_call>call:f{a:[1,2}<tool_call|>", "<|tool_call>call:f{a:[1,2}<tool_call|>", "expected ']'" },
    };

    [Theory]
    [MemberData(nameof(MalformedCalls))]
    public void Malformed_call_becomes_an_error_with_its_raw_text(ToolCallFormat format, string message, string raw, string reason)
    {
        var parsed = ToolCallHarness.Parse(format, message);

        var error = Assert.Single(parsed.Errors);
        Assert.Empty(parsed.Calls);
        Assert.Equal(raw, error.RawText);
        Assert.StartsWith(reason, error.Reason, StringComparison.Ordinal);
        Assert.Equal("call_1", error.Id);
        Assert.Equal("", parsed.Content);
    }

    [Fact]
    public void Error_message_tells_the_model_what_went_wrong_and_the_expected_format()
    {
        var error = Assert.Single(ToolCallParser.Parse(ToolCallFormat.Hermes, "<tool_call>{\"arguments\": {}}</tool_call>").Errors);

        Assert.Equal("The tool call could not be parsed: the call has no \"name\". Write each call as <tool_call>\n" +
            "{\"name\": \"<function-name>\", \"arguments\": {<arguments as a JSON object>}}\n</tool_call>", error.Message);
    }

    [Fact]
    public void Error_keeps_the_id_the_model_gave()
    {
        var error = Assert.Single(ToolCallHarness.Parse(ToolCallFormat.Mistral, "[TOOL_CALLS][{\"arguments\": {}, \"id\": \"abcdefghi\"}]").Errors);

        Assert.Equal("abcdefghi", error.Id);
    }

    [Fact]
    public void Error_keeps_the_name_when_it_could_be_read()
    {
        var error = Assert.Single(ToolCallHarness.Parse(ToolCallFormat.Hermes,
            "<tool_call>{\"name\": \"get_weather\", \"arguments\": 3}</tool_call>").Errors);

        Assert.Equal("get_weather", error.Name);
    }

    [Fact]
    public void A_good_call_and_a_bad_one_in_the_same_turn_are_both_reported_in_order()
    {
        var parsed = ToolCallHarness.Parse(ToolCallFormat.Hermes,
            "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": {]}</tool_call>\n" +
            "<tool_call>{\"name\": \"c\", \"arguments\": {}}</tool_call>");

        Assert.Equal([new ToolCall("call_1", "a", "{}"), new ToolCall("call_3", "c", "{}")], parsed.Calls);
        Assert.Equal("call_2", Assert.Single(parsed.Errors).Id);
    }

    [Fact]
    public void A_block_left_open_before_the_next_one_is_an_error_and_the_next_call_still_counts()
    {
        var parsed = ToolCallHarness.Parse(ToolCallFormat.Hermes,
            "<tool_call>{\"name\": \"a\", \"arguments\": {}}\n<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>");

        Assert.Equal("<tool_call>{\"name\": \"a\", \"arguments\": {}}\n", Assert.Single(parsed.Errors).RawText);
        Assert.Equal("b", parsed.Single().Name);
    }

    [Fact]
    public void An_unclosed_quote_does_not_swallow_the_closing_tag_or_the_text_after_it()
    {
        var parsed = ToolCallHarness.Parse(ToolCallFormat.Hermes,
            "<tool_call>{\"name\": \"a\", \"arguments\": {\"x\": \"oops}}</tool_call>\nSorry about that.");

        Assert.Equal("<tool_call>{\"name\": \"a\", \"arguments\": {\"x\": \"oops}}</tool_call>", Assert.Single(parsed.Errors).RawText);
        Assert.Equal("Sorry about that.", parsed.Content);
    }

    [Fact]
    public void Mistral_name_without_args_marker_and_no_json_reports_the_error_and_keeps_the_text()
    {
        var parsed = ToolCallHarness.Parse(ToolCallFormat.Mistral, "[TOOL_CALLS]hello world");

        Assert.Equal("[TOOL_CALLS]hello", Assert.Single(parsed.Errors).RawText);
        Assert.Equal("world", parsed.Content);
    }

    [Fact]
    public void Lone_surrogates_in_a_call_are_an_error_not_an_exception()
    {
        var parsed = ToolCallHarness.Parse(ToolCallFormat.Hermes, "<tool_call>{\"name\": \"a\", \"arguments\": {\"x\": \"\ud800\"}}</tool_call>");

        Assert.Single(parsed.Errors);
    }

    [Fact]
    public void Lone_surrogates_in_a_bare_text_call_are_an_error_not_an_exception()
    {
        // not theory data: test discovery would replace the lone surrogate
        foreach (var (format, message) in (ValueTuple<ToolCallFormat, string>[])[
            (ToolCallFormat.QwenXml, "<tool_call><function=f><parameter=a>\ud800</parameter></function></tool_call>"),
            (ToolCallFormat.Gemma4, "<|tool_call>call:f{a:<|\"|>\ud800<|\"|>}<tool_call|>")])
        {
            var parsed = ToolCallParser.Parse(format, message);

            Assert.StartsWith("invalid text", Assert.Single(parsed.Errors).Reason, StringComparison.Ordinal);
            Assert.Empty(parsed.Calls);
        }
    }

    [Theory]
    [InlineData(ToolCallFormat.QwenXml, "<tool_call><function=a></function></tool_call>\n<tool_call><function=b>oops</tool_call>\n" +
        "<tool_call><function=c></function></tool_call>\nDone.")]
    [InlineData(ToolCallFormat.Gemma4, "<|tool_call>call:a{}<tool_call|>\n<|tool_call>call:b{oops}<tool_call|>\n<|tool_call>call:c{}<tool_call|>\nDone.")]
    public void A_bad_call_between_good_ones_is_reported_in_order_and_the_text_after_is_kept(ToolCallFormat format, string message)
    {
        var parsed = ToolCallHarness.Parse(format, message);

        Assert.Equal([new ToolCall("call_1", "a", "{}"), new ToolCall("call_3", "c", "{}")], parsed.Calls);
        Assert.Equal("call_2", Assert.Single(parsed.Errors).Id);
        Assert.Equal("b", parsed.Errors[0].Name);
        Assert.Equal("Done.", parsed.Content);
    }

    [Fact]
    public void Push_after_finish_is_a_programming_error()
    {
        var parser = ToolCallParser.Create(ToolCallFormat.Generic);
        parser.Finish();

        Assert.Throws<InvalidOperationException>(() => parser.Push("x"));
        Assert.Throws<InvalidOperationException>(() => parser.Finish());
    }
}
