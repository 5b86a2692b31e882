using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// Thinking on /v1/messages with the Qwen3.5 template (its generation prompt opens a &lt;think&gt; block unless
/// enable_thinking is false): the reasoning comes back as a thinking block, streamed as thinking_delta.
/// </summary>
public sealed class MessagesThinkingTests(ScriptedQwen35ServerFixture fixture) : IClassFixture<ScriptedQwen35ServerFixture>
{
    private const string Reply = "The user greets me.\n</think>\n\nHello there.";
    private const string Hello = """ "model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]""";

    /// <summary>The Hello request with <paramref name="extra"/> fields (without max_tokens for count_tokens).</summary>
    private static string Body(string extra, bool count = false) => "{" + (count ? Hello.Replace("\"max_tokens\": 64, ", "") : Hello) + ", " + extra + "}";

    [Fact]
    public async Task The_reasoning_comes_back_as_a_thinking_block_before_the_text()
    {
        fixture.Script(Reply);
        var (status, body, _) = await fixture.PostAsync("/v1/messages", Body(""" "thinking": {"type": "enabled", "budget_tokens": 32}"""));

        Assert.True(status == 200, body.ToString());
        var content = body.GetProperty("content");
        Assert.Equal(2, content.GetArrayLength());
        Assert.Equal("thinking", content[0].GetProperty("type").GetString());
        Assert.Equal("The user greets me.", content[0].GetProperty("thinking").GetString());
        Assert.Equal(JsonValueKind.String, content[0].GetProperty("signature").ValueKind);
        Assert.Equal("text", content[1].GetProperty("type").GetString());
        Assert.Equal("Hello there.", content[1].GetProperty("text").GetString());
        Assert.Equal("end_turn", body.GetProperty("stop_reason").GetString());
    }

    [Fact]
    public async Task A_streamed_reply_sends_thinking_deltas_then_text_deltas_in_two_blocks()
    {
        fixture.Script(Reply);
        var events = await MessagesSse.EventsAsync(fixture, Body(""" "stream": true"""));

        var starts = events.Where(e => e.GetProperty("type").GetString() == "content_block_start").ToList();
        Assert.Equal(["thinking", "text"], starts.Select(e => e.GetProperty("content_block").GetProperty("type").GetString()));
        Assert.Equal([0, 1], starts.Select(e => e.GetProperty("index").GetInt32()));
        Assert.Equal("The user greets me.", MessagesSse.Text(events, "thinking_delta", "thinking"));
        Assert.Equal("Hello there.", MessagesSse.Text(events));
        Assert.DoesNotContain(events, e => e.GetRawText().Contains("think>", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Thinking_disabled_turns_the_templates_switch_off()
    {
        var (_, on, _) = await fixture.PostAsync("/v1/messages/count_tokens", Body(""" "thinking": {"type": "adaptive"}""", count: true));
        var (_, off, _) = await fixture.PostAsync("/v1/messages/count_tokens", Body(""" "thinking": {"type": "disabled"}""", count: true));
        Assert.NotEqual(on.GetProperty("input_tokens").GetInt32(), off.GetProperty("input_tokens").GetInt32());

        fixture.Script("Hello there.");
        var (status, body, _) = await fixture.PostAsync("/v1/messages", Body(""" "thinking": {"type": "disabled"}"""));
        Assert.True(status == 200, body.ToString());
        var block = Assert.Single(body.GetProperty("content").EnumerateArray());
        Assert.Equal("Hello there.", block.GetProperty("text").GetString()!.Trim());
    }

    [Fact]
    public async Task Display_omitted_keeps_the_thinking_block_without_its_text()
    {
        fixture.Script(Reply);
        var (_, body, _) = await fixture.PostAsync("/v1/messages", Body(""" "thinking": {"type": "enabled", "budget_tokens": 32, "display": "omitted"}"""));
        fixture.Script(Reply);
        var events = await MessagesSse.EventsAsync(fixture, Body(""" "stream": true, "thinking": {"type": "adaptive", "display": "omitted"}"""));

        Assert.Equal("", body.GetProperty("content")[0].GetProperty("thinking").GetString());
        Assert.Equal("Hello there.", body.GetProperty("content")[1].GetProperty("text").GetString());
        Assert.Equal("", MessagesSse.Text(events, "thinking_delta", "thinking"));
        Assert.Equal("thinking", events.First(e => e.GetProperty("type").GetString() == "content_block_start").GetProperty("content_block").GetProperty("type").GetString());
    }
}
