using Anthropic;
using Anthropic.Core;
using Anthropic.Models.Messages;

namespace Tern.Server.Tests;

/// <summary>The official Anthropic .NET SDK (NuGet Anthropic), unmodified, against Tern's /v1/messages.</summary>
public sealed class MessagesDotnetClientTests(MessagesServerFixture fixture) : IClassFixture<MessagesServerFixture>
{
    private AnthropicClient Client() => new(new ClientOptions { BaseUrl = fixture.Server.Address, ApiKey = MessagesServerFixture.Key, MaxRetries = 0 });

    private static MessageCreateParams Request() => new()
    {
        Model = "stories",
        MaxTokens = 10,
        System = "You tell stories.",
        Messages = [new UserMessageParam("Once upon a time")],
    };

    [Fact]
    public async Task The_dotnet_sdk_creates_a_message()
    {
        var message = await Client().Messages.Create(Request(), TestContext.Current.CancellationToken);

        Assert.StartsWith("msg_", message.ID);
        Assert.True(message.Content[0].TryPickText(out var text));
        Assert.False(string.IsNullOrEmpty(text.Text));
        Assert.Equal(StopReason.MaxTokens, message.StopReason?.Value());
        Assert.Equal(10, message.Usage.OutputTokens);
        Assert.True(message.Usage.InputTokens + (message.Usage.CacheReadInputTokens ?? 0) > 4);
    }

    [Fact]
    public async Task The_dotnet_sdk_streams_a_message()
    {
        string text = "";
        StopReason? stop = null;
        long? outputTokens = null;
        int starts = 0;
        await foreach (var e in Client().Messages.CreateStreaming(Request(), TestContext.Current.CancellationToken))
        {
            if (e.TryPickStart(out _))
                starts++;
            if (e.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var t))
                text += t.Text;
            if (e.TryPickDelta(out var messageDelta))
            {
                stop = messageDelta.Delta.StopReason?.Value();
                outputTokens = messageDelta.Usage.OutputTokens;
            }
        }

        Assert.Equal(1, starts);
        Assert.False(string.IsNullOrEmpty(text));
        Assert.Equal(StopReason.MaxTokens, stop);
        Assert.Equal(10, outputTokens);
    }

    [Fact]
    public async Task The_dotnet_sdk_counts_tokens_and_reads_an_error()
    {
        var count = await Client().Messages.CountTokens(new MessageCountTokensParams
        {
            Model = "stories",
            System = "You tell stories.",
            Messages = [new UserMessageParam("Once upon a time")],
        }, TestContext.Current.CancellationToken);
        var message = await Client().Messages.Create(Request(), TestContext.Current.CancellationToken);
        Assert.Equal(count.InputTokens, message.Usage.InputTokens + (message.Usage.CacheReadInputTokens ?? 0));

        var error = await Assert.ThrowsAnyAsync<Exception>(() => Client().Messages.Create(Request() with { StopSequences = [.. Enumerable.Range(0, 20).Select(i => $"stop{i}")] }, TestContext.Current.CancellationToken));
        Assert.Contains("stop_sequences", error.Message);
    }
}
