using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Tern.Server.Tests;

public sealed class ChatCompletionTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private ChatClient Client() => new("stories", new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = new Uri(fixture.Server.Address + "/v1") });

    [Fact]
    public async Task The_official_OpenAI_SDK_streams_a_chat_completion_and_reads_usage()
    {
        var text = new System.Text.StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };
        await foreach (var update in Client().CompleteChatStreamingAsync([new UserChatMessage("Once upon a time")], options, TestContext.Current.CancellationToken))
        {
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }

        Assert.True(text.Length > 0);
        Assert.NotNull(usage);
        Assert.Equal(24, usage!.OutputTokenCount);
        Assert.True(usage.InputTokenCount > 4);
        Assert.Equal(ChatFinishReason.Length, finish);
    }

    [Fact]
    public async Task A_non_streaming_completion_equals_the_streamed_text()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 30 };
        ChatMessage[] messages = [new SystemChatMessage("Tell a story."), new UserChatMessage("Lily and the ball")];
        var whole = (await Client().CompleteChatAsync(messages, options, TestContext.Current.CancellationToken)).Value;
        var streamed = new System.Text.StringBuilder();
        await foreach (var update in Client().CompleteChatStreamingAsync(messages, options, TestContext.Current.CancellationToken))
        {
            foreach (var part in update.ContentUpdate)
                streamed.Append(part.Text);
        }

        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.Equal(30, whole.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task Eight_concurrent_streams_each_produce_what_they_produce_alone()
    {
        string[] prompts = Enumerable.Range(0, 8).Select(i => $"Story number {i}: once upon a time there was a {(i % 2 == 0 ? "cat" : "dog")}").ToArray();
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 40 };
        var alone = new List<string>();
        foreach (string p in prompts)
            alone.Add((await Client().CompleteChatAsync([new UserChatMessage(p)], options, TestContext.Current.CancellationToken)).Value.Content[0].Text);

        var together = await Task.WhenAll(prompts.Select(async p =>
        {
            var text = new System.Text.StringBuilder();
            await foreach (var update in Client().CompleteChatStreamingAsync([new UserChatMessage(p)], options, TestContext.Current.CancellationToken))
            {
                foreach (var part in update.ContentUpdate)
                    text.Append(part.Text);
            }

            return text.ToString();
        }));
        Assert.Equal(alone, together);
    }

    [Fact]
    public async Task Logprobs_and_top_logprobs_are_returned_when_asked()
    {
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions",
            """{"messages":[{"role":"user","content":"Once upon"}],"max_tokens":3,"temperature":0,"logprobs":true,"top_logprobs":2}""");
        Assert.Equal(200, status);
        var content = body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content");
        Assert.Equal(3, content.GetArrayLength());
        foreach (var entry in content.EnumerateArray())
        {
            Assert.True(entry.GetProperty("logprob").GetDouble() <= 0);
            Assert.Equal(2, entry.GetProperty("top_logprobs").GetArrayLength());
        }
    }

    [Fact]
    public async Task The_second_request_sharing_a_long_prefix_reuses_the_cached_blocks()
    {
        string prefix = string.Concat(Enumerable.Repeat("The little girl walked in the park and saw a big red ball. ", 12));
        async Task<(JsonElement Usage, JsonElement Timings)> Run(string tail)
        {
            var (status, body, _) = await fixture.PostAsync("/v1/completions",
                JsonSerializer.Serialize(new { prompt = prefix + tail, max_tokens = 2, temperature = 0 }));
            Assert.Equal(200, status);
            return (body.GetProperty("usage"), body.GetProperty("timings"));
        }

        var (first, _) = await Run("Then she");
        var (second, timings) = await Run("Then he");
        int promptTokens = second.GetProperty("prompt_tokens").GetInt32();
        int cached = second.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.True(promptTokens > 100);
        Assert.True(cached >= promptTokens - 40, $"{cached} of {promptTokens} prompt tokens came from the cache");
        Assert.True(first.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() < cached);
        // Only the tokens after the cached blocks went through the model.
        Assert.Equal(promptTokens - cached, timings.GetProperty("prompt_n").GetInt32());
    }

    [Fact]
    public async Task Apply_template_renders_chatml_for_a_model_without_a_template()
    {
        var (status, body, _) = await fixture.PostAsync("/apply-template", """{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}""");
        Assert.Equal(200, status);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", body.GetProperty("prompt").GetString());
    }
}
