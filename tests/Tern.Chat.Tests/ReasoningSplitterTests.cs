using Tern.Chat.Reasoning;

namespace Tern.Chat.Tests;

/// <summary>The reasoning block at the start of a turn goes apart from its content, however the text is cut.</summary>
public sealed class ReasoningSplitterTests
{
    private static readonly ReasoningMarkers Think = ReasoningMarkers.Think;
    private static readonly ReasoningMarkers Gemma4 = ReasoningMarkers.Gemma4;

    public static TheoryData<string, bool, string, string, string> Cases => new()
    {
        // markers, opened by the prompt, model output, reasoning, content
        { "think", false, "<think>\nLet me add.\n2+2=4\n</think>\n\nIt is 4.", "Let me add.\n2+2=4", "It is 4." },
        { "think", true, "\nLet me add.\n</think>\n\nIt is 4.", "Let me add.", "It is 4." },
        { "think", true, "<think>\nopened twice</think>It is 4.", "opened twice", "It is 4." },
        { "think", true, "", "", "" },
        { "think", true, "  ", "", "" },
        { "think", false, "  ", "", "  " },
        { "think", false, "  <think>x</think>y", "x", "y" },
        { "think", false, "It is 4.", "", "It is 4." },
        { "think", false, "It is 4. <think>not reasoning</think>", "", "It is 4. <think>not reasoning</think>" },
        { "think", false, "\n\nIt is 4.", "", "\n\nIt is 4." },
        { "think", false, "<thin", "", "<thin" },
        { "think", false, "<think>\nunterminated\n", "unterminated", "" },
        { "think", true, "still thinking </thi", "still thinking </thi", "" },
        { "think", true, "a\n\n b </think>", "a\n\n b", "" },
        { "think", false, "<think></think>\n\n<tool_call>x</tool_call>", "", "<tool_call>x</tool_call>" },
        { "gemma4", false, "<|channel>thought\nPlan: call it.<channel|>Done.", "Plan: call it.", "Done." },
        { "gemma4", false, "<|channel>thought\n<channel|>Done.", "", "Done." },
        { "gemma4", false, "<|channel>thought\nunterminated", "unterminated", "" },
        { "gemma4", false, "Done. <channel|>", "", "Done. <channel|>" },
        { "gemma4", false, "<|channel>other<channel|>x", "", "<|channel>other<channel|>x" },
    };

    private static ReasoningMarkers Markers(string name) => name == "gemma4" ? Gemma4 : Think;

    [Theory]
    [MemberData(nameof(Cases))]
    public void Whole_turns_split_into_reasoning_and_content(string markers, bool opened, string text, string reasoning, string content)
    {
        Assert.Equal(new ReasoningUpdate(reasoning, content), ReasoningSplitter.Split(text, Markers(markers), opened));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Streamed_turns_split_the_same_at_every_cut(string markers, bool opened, string text, string reasoning, string content)
    {
        for (int cut = 0; cut <= text.Length; cut++)
        {
            for (int second = cut; second <= text.Length; second++)
            {
                var splitter = new ReasoningSplitter(Markers(markers), opened);
                var parts = new[] { splitter.Push(text[..cut]), splitter.Push(text[cut..second]), splitter.Push(text[second..]), splitter.Finish() };
                Assert.Equal(reasoning, string.Concat(parts.Select(p => p.Reasoning)));
                Assert.Equal(content, string.Concat(parts.Select(p => p.Content)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Kept_markup_gives_back_the_text_unchanged_with_the_block_first(string markers, bool opened, string text, string reasoning, string content)
    {
        for (int cut = 0; cut <= text.Length; cut++)
        {
            var splitter = new ReasoningSplitter(Markers(markers), opened, keepMarkup: true);
            var parts = new[] { splitter.Push(text[..cut]), splitter.Push(text[cut..]), splitter.Finish() };
            string kept = string.Concat(parts.Select(p => p.Reasoning)), keptContent = string.Concat(parts.Select(p => p.Content));
            Assert.Equal(text, kept + keptContent);
            Assert.Contains(reasoning, kept);
            Assert.Equal(content, keptContent);
        }
    }

    [Fact]
    public void Reasoning_is_released_while_it_streams_and_a_partial_marker_is_held_back()
    {
        var splitter = new ReasoningSplitter(Think, openedByPrompt: false);

        Assert.Equal(new ReasoningUpdate("First", ""), splitter.Push("<think>First"));
        Assert.Equal(new ReasoningUpdate(" step", ""), splitter.Push(" step</thi"));
        Assert.Equal(new ReasoningUpdate("", "Answer"), splitter.Push("nk>\n\nAnswer"));
        Assert.Equal(ReasoningUpdate.Empty, splitter.Finish());
    }

    [Theory]
    [InlineData("Qwen-Qwen3.5-4B.jinja", "think")]
    [InlineData("google-gemma-4-31B-it.jinja", "gemma4")]
    [InlineData("google-gemma-4-31B-it-original.jinja", "gemma4")]
    [InlineData("Qwen-Qwen3-Coder.jinja", null)]
    public void Markers_are_detected_from_the_template(string template, string? expected)
    {
        var markers = ReasoningMarkers.Detect(File.ReadAllText(SharedData.Path("templates/2026/" + template)));
        Assert.Equal(expected is null ? null : Markers(expected), markers);
    }

    [Theory]
    [InlineData("Qwen-Qwen3.5-4B.enable_thinking_true.txt", "think", true)]
    [InlineData("Qwen-Qwen3.5-4B.user.txt", "think", true)]
    [InlineData("Qwen-Qwen3.5-4B.enable_thinking_false.txt", "think", false)]
    [InlineData("google-gemma-4-31B-it.enable_thinking_true.txt", "gemma4", false)]
    [InlineData("google-gemma-4-31B-it.enable_thinking_false.txt", "gemma4", false)]
    public void A_prompt_that_ends_inside_a_block_opens_it(string golden, string markers, bool opened)
    {
        Assert.Equal(opened, Markers(markers).OpenedBy(File.ReadAllText(SharedData.Path("templates/2026/golden/" + golden))));
    }

    [Fact]
    public void A_finished_splitter_refuses_more_text()
    {
        var splitter = new ReasoningSplitter(Think, openedByPrompt: false);
        splitter.Finish();
        Assert.Throws<InvalidOperationException>(() => splitter.Push("x"));
        Assert.Throws<InvalidOperationException>(() => splitter.Finish());
    }
}
