using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>The official `@anthropic-ai/sdk` npm package, unmodified, against Tern's /v1/messages (npm/anthropic-messages.mjs).</summary>
public sealed class MessagesNpmClientTests(MessagesServerFixture fixture) : IClassFixture<MessagesServerFixture>
{
    [Fact]
    public async Task The_anthropic_npm_package_creates_streams_counts_and_reads_errors()
    {
        var result = await Npm.NodeAsync($"anthropic-messages.mjs {fixture.Server.Address} {MessagesServerFixture.Key}");

        var created = result.GetProperty("created");
        Assert.Equal("message", created.GetProperty("type").GetString());
        Assert.Equal("max_tokens", created.GetProperty("stop_reason").GetString());
        string text = created.GetProperty("content")[0].GetProperty("text").GetString()!;
        Assert.False(string.IsNullOrEmpty(text));

        // temperature 0: the stream's text is the created message's, as the SDK assembled it from the deltas
        var streamed = result.GetProperty("streamed");
        Assert.Equal(text, streamed.GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal(text, result.GetProperty("streamedText").GetString());
        Assert.Equal("max_tokens", streamed.GetProperty("stop_reason").GetString());
        Assert.Equal(12, streamed.GetProperty("usage").GetProperty("output_tokens").GetInt32());

        var usage = created.GetProperty("usage");
        Assert.Equal(result.GetProperty("counted").GetProperty("input_tokens").GetInt32(),
            usage.GetProperty("input_tokens").GetInt32() + usage.GetProperty("cache_read_input_tokens").GetInt32());

        var refused = result.GetProperty("refused");
        Assert.Equal(400, refused.GetProperty("status").GetInt32());
        Assert.True(refused.GetProperty("isBadRequest").GetBoolean());
        Assert.Equal("invalid_request_error", refused.GetProperty("type").GetString());
        Assert.Contains("'temperature'", refused.GetProperty("message").GetString());
    }
}
