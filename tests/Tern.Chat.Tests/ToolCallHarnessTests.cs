using System.Text.Json.Nodes;
using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

/// <summary>
/// Parses a message whole and streamed in many ways (one character at a time, cut at every position, random chunk sizes) and
/// checks that every way gives the same content, calls and errors, and that no markup reaches the content.
/// </summary>
internal static class ToolCallHarness
{
    private static readonly Dictionary<ToolCallFormat, string[]> Markers = new()
    {
        [ToolCallFormat.Hermes] = ["<tool_call>", "</tool_call>"],
        [ToolCallFormat.Llama3] = ["<|python_tag|>"],
        [ToolCallFormat.Mistral] = ["[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"],
        [ToolCallFormat.Generic] = [],
        [ToolCallFormat.QwenXml] = ["<tool_call>", "</tool_call>"],
        [ToolCallFormat.Gemma4] = ["<|tool_call>", "<tool_call|>", "<|\"|>", "<|tool_response>"],
    };

    public static ParsedMessage Parse(ToolCallFormat format, string message, JsonArray? tools = null)
    {
        var whole = Run(format, [message], tools);
        var viaStatic = ToolCallParser.Parse(format, message, SequentialIds(), tools);
        Assert.Equal(whole, new ParsedMessage(viaStatic.Content, [.. viaStatic.Calls], [.. viaStatic.Errors]));
        foreach (string marker in Markers[format])
            Assert.DoesNotContain(marker, whole.Content, StringComparison.Ordinal);
        foreach (var (description, chunks) in Chunkings(message))
            Assert.True(whole == Run(format, chunks, tools), $"streaming {description} differs from parsing the whole message");
        return whole;
    }

    /// <summary>Ids call_1, call_2... in the order calls and errors are found, so that different runs can be compared.</summary>
    public static Func<string> SequentialIds()
    {
        int next = 0;
        return () => $"call_{++next}";
    }

    public static ParsedMessage Run(ToolCallFormat format, IEnumerable<string> chunks, JsonArray? tools = null)
    {
        var parser = ToolCallParser.Create(format, SequentialIds(), tools);
        var content = new System.Text.StringBuilder();
        var calls = new List<ToolCall>();
        var errors = new List<ToolCallError>();
        foreach (string chunk in chunks)
            Collect(parser.Push(chunk), final: false);
        Collect(parser.Finish(), final: true);
        Assert.Equal(parser.Calls, calls);
        Assert.Equal(parser.Errors, errors);
        Assert.Equal(calls.Count + errors.Count > 0, parser.HasToolCalls);
        return new ParsedMessage(content.ToString(), calls, errors);

        void Collect(ToolCallUpdate update, bool final)
        {
            if (!final && update.Content.Length > 0)
                Assert.False(char.IsHighSurrogate(update.Content[^1]), "a streamed chunk ends inside a surrogate pair");
            content.Append(update.Content);
            calls.AddRange(update.Calls);
            errors.AddRange(update.Errors);
        }
    }

    private static IEnumerable<(string, string[])> Chunkings(string message)
    {
        yield return ("one character at a time", message.Select(c => c.ToString()).ToArray());
        for (int cut = 1; cut < message.Length; cut++)
            yield return ($"cut at {cut}", [message[..cut], message[cut..]]);
        for (int seed = 0; seed < 12; seed++)
        {
            var random = new Random(seed);
            var chunks = new List<string>();
            for (int at = 0; at < message.Length;)
            {
                int length = Math.Min(random.Next(1, 8), message.Length - at);
                chunks.Add(message.Substring(at, length));
                at += length;
            }
            yield return ($"in random chunks (seed {seed})", [.. chunks]);
        }
    }
}

internal sealed record ParsedMessage(string Content, List<ToolCall> Calls, List<ToolCallError> Errors)
{
    public bool Equals(ParsedMessage? other) =>
        other is not null && Content == other.Content && Calls.SequenceEqual(other.Calls) && Errors.SequenceEqual(other.Errors);

    public override int GetHashCode() => Content.GetHashCode(StringComparison.Ordinal);

    public ToolCall Single() => Assert.Single(Calls);
}

public sealed class ToolCallHarnessTests
{
    [Fact]
    public void Harness_detects_a_parser_whose_result_depends_on_chunking()
    {
        // the same text cut differently must parse the same: check the harness compares what it should
        var whole = ToolCallHarness.Run(ToolCallFormat.Hermes, ["a<tool_call>{\"name\": \"f\"}</tool_call>"]);
        var other = ToolCallHarness.Run(ToolCallFormat.Hermes, ["b<tool_call>{\"name\": \"f\"}</tool_call>"]);

        Assert.NotEqual(whole, other);
        Assert.Equal(whole, ToolCallHarness.Run(ToolCallFormat.Hermes, ["a<tool", "_call>{\"name\": \"f\"}</tool_c", "all>"]));
    }
}
