using Tern.Server;

namespace Tern.Server.Tests;

public sealed class LoadingTests
{
    [Fact]
    public async Task Health_is_503_until_a_model_is_loaded_and_routes_say_why()
    {
        using var temp = new TempDirectory();
        string broken = temp.Write("broken.gguf", "GGUF but not really"u8.ToArray());
        var log = new StringWriter();
        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = broken, Port = 0 }, log, TestContext.Current.CancellationToken);
        await Assert.ThrowsAnyAsync<Exception>(server.WaitUntilReadyAsync);
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };

        var health = await http.GetAsync("/health", TestContext.Current.CancellationToken);
        Assert.Equal(503, (int)health.StatusCode);
        var chat = await http.PostAsync("/v1/chat/completions", new StringContent("""{"messages":[{"role":"user","content":"hi"}]}"""), TestContext.Current.CancellationToken);
        Assert.Equal(503, (int)chat.StatusCode);
        Assert.Contains("failed to load", await chat.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Contains("broken.gguf", log.ToString());
    }

    [Fact]
    public async Task The_server_binds_to_loopback_by_default()
    {
        Assert.Equal("127.0.0.1", new ServerOptions { ModelPath = "x" }.Host);
        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = SharedData.Path("models/stories260K.gguf"), Port = 0 }, TextWriter.Null, TestContext.Current.CancellationToken);
        Assert.StartsWith("http://127.0.0.1:", server.Address);
    }
}
