using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

public sealed class ToolCallGenericTests
{
    private static ParsedMessage Parse(string message) => ToolCallHarness.Parse(ToolCallFormat.Generic, message);

    [Theory]
    [InlineData("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}")]
    [InlineData("  {\"tool_call\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}")]
    [InlineData("```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```")]
    [InlineData("```\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```\n")]
    public void Single_call_is_parsed(string message)
    {
        var parsed = Parse(message);

        Assert.Equal(new ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}"), parsed.Single());
        Assert.Equal("", parsed.Content);
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void Tool_calls_list_accepts_plain_and_openai_shaped_calls()
    {
        var parsed = Parse("{\"tool_calls\": [{\"name\": \"a\", \"arguments\": {\"x\": 1}}, " +
            "{\"id\": \"call_abc\", \"type\": \"function\", \"function\": {\"name\": \"b\", \"arguments\": \"{\\\"y\\\": 2}\"}}]}");

        Assert.Equal([new ToolCall("call_1", "a", "{\"x\": 1}"), new ToolCall("call_abc", "b", "{\"y\": 2}")], parsed.Calls);
    }

    [Fact]
    public void An_array_of_calls_is_parsed()
    {
        var parsed = Parse("[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"parameters\": {\"y\": [1]}}]");

        Assert.Equal([new ToolCall("call_1", "a", "{}"), new ToolCall("call_2", "b", "{\"y\": [1]}")], parsed.Calls);
    }

    [Fact]
    public void Fenced_calls_after_content_are_parsed()
    {
        var parsed = Parse("I'll look both up.\n```json\n{\"name\": \"search\", \"arguments\": {\"q\": \"Zürich 🙂\"}}\n```\n" +
            "```json\n{\"name\": \"search\", \"arguments\": {\"q\": \"Bern\"}}\n```");

        Assert.Equal("I'll look both up.", parsed.Content);
        Assert.Equal(
            [new ToolCall("call_1", "search", "{\"q\": \"Zürich 🙂\"}"), new ToolCall("call_2", "search", "{\"q\": \"Bern\"}")],
            parsed.Calls);
    }

    [Theory]
    [InlineData("{\"answer\": 42}")]
    [InlineData("Here is the data:\n```json\n{\"city\": \"Paris\", \"temp\": 18}\n```\nAnything else?")]
    [InlineData("```python\nd = {\"name\": \"x\", \"arguments\": {}}\nprint(d)\n```\nThat prints a dict.")]
    [InlineData("Inline ```code``` and a closing fence at the end ```")]
    [InlineData("```\nplain block\n```\n{\"name\": \"f\", \"arguments\": {}} in the middle is text")]
    [InlineData("Just text, with {braces} and [brackets].")]
    public void Text_and_json_that_are_not_calls_stay_content(string message)
    {
        var parsed = Parse(message);

        Assert.Equal(message, parsed.Content);
        Assert.Empty(parsed.Calls);
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void An_unclosed_fence_around_a_complete_call_still_counts()
    {
        Assert.Equal("f", Parse("```json\n{\"name\": \"f\", \"arguments\": {}}").Single().Name);
    }
}
