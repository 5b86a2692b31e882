using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>The official `openai` npm package (installed from tests/Tern.Server.Tests/npm on first use) talks to Tern.</summary>
public sealed class NpmClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task The_openai_npm_package_streams_a_chat_completion_and_reads_usage()
    {
        var result = await Npm.NodeAsync($"stream-chat.mjs {fixture.Server.Address}/v1");
        Assert.False(string.IsNullOrEmpty(result.GetProperty("text").GetString()));
        Assert.Equal("length", result.GetProperty("finish").GetString());
        Assert.Equal(16, result.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.True(result.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 4);
    }
}
