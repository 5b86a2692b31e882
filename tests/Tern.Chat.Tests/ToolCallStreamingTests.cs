using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

/// <summary>What a streaming client sees and when: content is released as soon as it cannot be part of a call.</summary>
public sealed class ToolCallStreamingTests
{
    [Fact]
    public void Content_is_released_up_to_a_possible_marker_start_and_the_rest_once_it_is_not_one()
    {
        var parser = ToolCallParser.Create(ToolCallFormat.Hermes);

        Assert.Equal("Hello", parser.Push("Hello <tool").Content);
        Assert.Equal(" <tools are fun", parser.Push("s are fun").Content);
    }

    [Fact]
    public void A_call_is_reported_by_the_push_that_completes_it()
    {
        var parser = ToolCallParser.Create(ToolCallFormat.Hermes, ToolCallHarness.SequentialIds());

        Assert.True(parser.Push("<tool_call>{\"name\": \"f\", \"arguments\": {}}").IsEmpty);
        Assert.True(parser.HasToolCalls is false);
        var update = parser.Push("</tool_call>");

        Assert.Equal(new ToolCall("call_1", "f", "{}"), Assert.Single(update.Calls));
        Assert.True(parser.HasToolCalls);
        Assert.True(parser.Finish().IsEmpty);
    }

    [Fact]
    public void Whitespace_before_a_possible_call_is_held_until_text_follows()
    {
        var parser = ToolCallParser.Create(ToolCallFormat.Hermes);

        Assert.Equal("Checking.", parser.Push("Checking.\n").Content);
        Assert.Equal("\nDone", parser.Push("Done").Content);
        Assert.Equal("", parser.Finish().Content);
    }

    [Theory]
    [InlineData(ToolCallFormat.Llama3, "{\"answer\": 4", "{\"answer\": 4")]
    [InlineData(ToolCallFormat.Generic, "[1, 2", "[1, 2")]
    [InlineData(ToolCallFormat.Generic, "```json\n{\"city\": \"Par", "```json\n{\"city\": \"Par")]
    [InlineData(ToolCallFormat.Llama3, "{\"name\": \"Ada\", \"age\": 3", "")]
    public void Leading_json_streams_as_content_once_its_first_key_rules_out_a_call(ToolCallFormat format, string pushed, string released)
    {
        var parser = ToolCallParser.Create(format);

        Assert.Equal(released, parser.Push(pushed).Content);
    }

    [Fact]
    public void Json_with_the_name_after_other_keys_is_content_at_the_start_of_a_message()
    {
        // the first key decides, so that other JSON can stream at once; models write "name" (or "type") first
        const string message = "{\"parameters\": {}, \"name\": \"f\"}";

        Assert.Equal(message, ToolCallHarness.Parse(ToolCallFormat.Llama3, message).Content);
    }

    [Fact]
    public void Surrogate_pairs_split_across_pushes_are_never_split_across_chunks()
    {
        var parser = ToolCallParser.Create(ToolCallFormat.Hermes);

        Assert.Equal("a", parser.Push("a\ud83d").Content);
        Assert.Equal("🙂b", parser.Push("\ude42b").Content);
    }

    [Fact]
    public void A_long_call_streamed_in_small_pieces_is_parsed_whole()
    {
        string content = string.Concat(Enumerable.Repeat("line with \\\"quotes\\\", {braces} and </tool_call> text\\n", 2000));
        string message = $"<tool_call>{{\"name\": \"write_file\", \"arguments\": {{\"path\": \"a.txt\", \"content\": \"{content}\"}}}}</tool_call>";
        var parser = ToolCallParser.Create(ToolCallFormat.Hermes);

        for (int at = 0; at < message.Length; at += 3)
            Assert.Equal("", parser.Push(message.Substring(at, Math.Min(3, message.Length - at))).Content);
        parser.Finish();

        Assert.Empty(parser.Errors);
        Assert.Equal($"{{\"path\": \"a.txt\", \"content\": \"{content}\"}}", Assert.Single(parser.Calls).Arguments);
    }
}
