using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>Qwen3.5's generation prompt opens a &lt;think&gt; block unless enable_thinking is false: reasoning.effort decides which.</summary>
public sealed class ResponsesReasoningTests(ScriptedQwen35ServerFixture fixture) : IClassFixture<ScriptedQwen35ServerFixture>
{
    [Fact]
    public async Task A_reply_in_the_block_the_prompt_opened_is_a_reasoning_item_then_a_message()
    {
        fixture.Script("The user greets me.\n</think>\n\nHello there.");
        var output = await OutputAsync("""{"input": "Hello", "reasoning": {"effort": "medium"}}""");

        Assert.Equal(["reasoning", "message"], output.EnumerateArray().Select(i => i.GetProperty("type").GetString()));
        Assert.Equal("The user greets me.", output[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal("Hello there.", output[1].GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Reasoning_effort_none_closes_the_block_so_the_reply_is_all_message()
    {
        fixture.Script("Hello there.");
        var output = await OutputAsync("""{"input": "Hello", "reasoning": {"effort": "none"}}""");

        var message = Assert.Single(output.EnumerateArray());
        Assert.Equal("message", message.GetProperty("type").GetString());
        Assert.Equal("Hello there.", message.GetProperty("content")[0].GetProperty("text").GetString()!.Trim());
    }

    private async Task<JsonElement> OutputAsync(string json)
    {
        var (status, body, _) = await fixture.PostAsync("/v1/responses", json);
        Assert.True(status == 200, body.ToString());
        return body.GetProperty("output");
    }
}
