using System.Text;
using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>Server-side failures on /v1/messages, in Anthropic's shape.</summary>
public sealed class MessagesErrorEventTests
{
    /// <summary>A model whose logits hold NaN (see <see cref="BrokenModelTests"/>).</summary>
    [Fact]
    public async Task A_failure_is_an_api_error_body_or_mid_stream_an_error_event()
    {
        using var temp = new TempDirectory();
        string model = BrokenModelTests.WriteNanCopy(SharedData.Path("models/stories260K.gguf"), temp.File("nan.gguf"));
        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = model, Port = 0 }, TextWriter.Null, TestContext.Current.CancellationToken);
        await server.WaitUntilReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        const string Request = """{"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]""";

        var response = await http.PostAsync("/v1/messages", new StringContent(Request + "}", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(500, (int)response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal("api_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("logits hold NaN", body.GetProperty("error").GetProperty("message").GetString());

        var stream = await http.PostAsync("/v1/messages", new StringContent(Request + """, "stream": true}""", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)stream.StatusCode); // the stream had started: the error is its last event
        string[] events = (await stream.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("event: message_start\n", events[0]);
        Assert.StartsWith("event: error\ndata: ", events[^1]);
        var error = JsonDocument.Parse(events[^1].Split('\n')[1]["data: ".Length..]).RootElement;
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal("api_error", error.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("logits hold NaN", error.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_model_that_failed_to_load_is_an_overloaded_error()
    {
        using var temp = new TempDirectory();
        string broken = temp.Write("broken.gguf", "GGUF but not really"u8.ToArray());
        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = broken, Port = 0 }, TextWriter.Null, TestContext.Current.CancellationToken);
        await Assert.ThrowsAnyAsync<Exception>(server.WaitUntilReadyAsync);
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };

        var response = await http.PostAsync("/v1/messages/count_tokens", new StringContent("""{"messages": [{"role": "user", "content": "hi"}]}""", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);

        Assert.Equal(503, (int)response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal("overloaded_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("failed to load", body.GetProperty("error").GetProperty("message").GetString());
    }
}
