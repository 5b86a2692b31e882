using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

public sealed class ToolCallLlama3Tests
{
    private static ParsedMessage Parse(string message) => ToolCallHarness.Parse(ToolCallFormat.Llama3, message);

    [Theory]
    [InlineData("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}")]
    [InlineData("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}")]
    [InlineData("{\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}")]
    [InlineData("\n  {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}\n")]
    [InlineData("<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}")]
    public void Json_call_is_parsed(string message)
    {
        var parsed = Parse(message);

        Assert.Equal(new ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}"), parsed.Single());
        Assert.Equal("", parsed.Content);
        Assert.Empty(parsed.Errors);
    }

    [Theory]
    [InlineData("{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"parameters\": {}}")]
    [InlineData("{\"name\": \"a\", \"parameters\": {\"x\": 1}}\n{\"name\": \"b\", \"parameters\": {}}")]
    [InlineData("[{\"name\": \"a\", \"parameters\": {\"x\": 1}}, {\"name\": \"b\", \"parameters\": {}}]")]
    [InlineData("<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"parameters\": {}}")]
    public void Parallel_json_calls_are_parsed(string message)
    {
        var parsed = Parse(message);

        Assert.Equal([new ToolCall("call_1", "a", "{\"x\": 1}"), new ToolCall("call_2", "b", "{}")], parsed.Calls);
        Assert.Equal("", parsed.Content);
    }

    [Fact]
    public void Builtin_tool_call_after_python_tag_is_parsed()
    {
        var parsed = Parse("<|python_tag|>brave_search.call(query=\"current weather in Menlo Park, California\")");

        Assert.Equal(new ToolCall("call_1", "brave_search", "{\"query\":\"current weather in Menlo Park, California\"}"), parsed.Single());
    }

    [Fact]
    public void Builtin_tool_call_reads_python_values()
    {
        var parsed = Parse("<|python_tag|>wolfram_alpha.call(query='2+2 (\"four\")', precision=3, exact=True, unit=None, opts={\"a\": [1, 2]})");

        Assert.Equal("{\"query\":\"2+2 (\\\"four\\\")\",\"precision\":3,\"exact\":true,\"unit\":null,\"opts\":{\"a\": [1, 2]}}",
            parsed.Single().Arguments);
    }

    [Fact]
    public void Code_after_python_tag_is_a_call_to_the_code_interpreter()
    {
        var parsed = Parse("<|python_tag|>import math\nprint(math.sqrt(2), \"é\")\n");

        Assert.Equal(new ToolCall("call_1", "python", "{\"code\":\"import math\\nprint(math.sqrt(2), \\\"é\\\")\"}"), parsed.Single());
    }

    [Fact]
    public void Content_before_python_tag_is_kept()
    {
        var parsed = Parse("Let me search for that.\n<|python_tag|>brave_search.call(query=\"Tern\")");

        Assert.Equal("Let me search for that.", parsed.Content);
        Assert.Equal("brave_search", parsed.Single().Name);
    }

    [Fact]
    public void Two_python_tags_give_two_calls()
    {
        var parsed = Parse("<|python_tag|>print(1)<|python_tag|>brave_search.call(query=\"x\")");

        Assert.Equal([new ToolCall("call_1", "python", "{\"code\":\"print(1)\"}"), new ToolCall("call_2", "brave_search", "{\"query\":\"x\"}")],
            parsed.Calls);
    }

    [Theory]
    [InlineData("{\"answer\": 42, \"unit\": \"km\"}")]
    [InlineData("{\"name\": \"Ada\", \"born\": 1815}")]
    [InlineData("{not json at all} and then some text")]
    [InlineData("The set {1, 2} has two elements; {\"name\": \"f\", \"parameters\": {}} is an example.")]
    [InlineData("[1, 2, 3]")]
    [InlineData("Plain answer with < and | characters: <|python")]
    public void Text_and_json_that_are_not_calls_stay_content(string message)
    {
        var parsed = Parse(message);

        Assert.Equal(message, parsed.Content);
        Assert.Empty(parsed.Calls);
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void Text_after_a_json_call_is_content()
    {
        var parsed = Parse("{\"name\": \"f\", \"parameters\": {}}\nLet me know if you need more.");

        Assert.Equal("Let me know if you need more.", parsed.Content);
        Assert.Equal("f", parsed.Single().Name);
    }

    [Fact]
    public void Unicode_in_arguments_is_kept_as_written()
    {
        const string arguments = "{\"city\": \"Zürich\", \"note\": \"日本語 🙂\"}";

        Assert.Equal(arguments, Parse($"{{\"name\": \"get_weather\", \"parameters\": {arguments}}}").Single().Arguments);
        Assert.Equal("{\"query\":\"日本語 🙂\"}", Parse("<|python_tag|>brave_search.call(query=\"日本語 🙂\")").Single().Arguments);
    }
}
