using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// Graceful drain (<see cref="TernServer.DrainAsync"/>): new requests get 503 server_draining, /health 503 draining,
/// running ones finish; at the timeout the ones left are cut with an error, not a dropped connection.
/// A shell tool that waits on a file holds a request open for as long as a test needs.
/// </summary>
public class DrainTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    private sealed class ToolServer : ServerFixture
    {
        protected override ServerOptions Options => base.Options with { Tools = "shell" };
    }

    [Fact]
    public async Task A_running_request_finishes_while_new_ones_get_503_and_health_says_draining()
    {
        await using var fixture = new ToolServer();
        await fixture.InitializeAsync();
        string dir = Directory.CreateTempSubdirectory("tern-drain").FullName;
        string started = Path.Combine(dir, "started"), release = Path.Combine(dir, "release");
        var running = fixture.PostAsync("/tools/call", Shell($"touch {started}; while [ ! -e {release} ]; do sleep 0.05; done; echo finished"));
        while (!File.Exists(started))
            await Task.Delay(20, Cancellation);

        var drain = fixture.Server.DrainAsync(TimeSpan.FromMinutes(2));
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}""");
        Assert.Equal(503, status);
        Assert.Equal("server_draining", body.GetProperty("error").GetProperty("code").GetString());
        var health = await fixture.GetAsync("/health");
        Assert.Equal(503, health.Status);
        Assert.Equal("draining", JsonDocument.Parse(health.Text).RootElement.GetProperty("status").GetString());
        Assert.False(drain.IsCompleted);

        File.WriteAllText(release, "");
        var done = await running;
        Assert.Equal(200, done.Status);
        Assert.Contains("finished", done.Body.GetProperty("output").GetString());
        await drain;
    }

    [Fact]
    public async Task At_the_drain_timeout_a_running_request_is_cut_with_a_server_draining_error()
    {
        await using var fixture = new ToolServer();
        await fixture.InitializeAsync();
        string started = Path.Combine(Directory.CreateTempSubdirectory("tern-drain").FullName, "started");
        var running = fixture.PostAsync("/tools/call", Shell($"touch {started}; sleep 120"));
        while (!File.Exists(started))
            await Task.Delay(20, Cancellation);

        await fixture.Server.DrainAsync(TimeSpan.FromMilliseconds(200));
        var (status, body, _) = await running;
        Assert.Equal(503, status);
        Assert.Equal("server_draining", body.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_stream_cut_at_the_timeout_ends_with_an_error_event()
    {
        await using var fixture = new ServerFixture();
        await fixture.InitializeAsync();
        // stories260K's end-of-text token banned, so the reply runs to max_tokens unless it is cut
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent("""{"prompt":"Once upon a time","max_tokens":100000,"stream":true,"logit_bias":{"2":-100}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        using var response = await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancellation);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Cancellation));
        Assert.StartsWith("data: ", await reader.ReadLineAsync(Cancellation));

        await fixture.Server.DrainAsync(TimeSpan.Zero);
        var events = new List<string>();
        while (await reader.ReadLineAsync(Cancellation) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
                events.Add(line["data: ".Length..]);
        }

        Assert.DoesNotContain("[DONE]", events);
        var last = JsonDocument.Parse(events[^1]).RootElement;
        Assert.Equal("server_draining", last.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Drain_returns_at_once_when_idle_and_the_server_then_refuses()
    {
        await using var fixture = new ServerFixture();
        await fixture.InitializeAsync();
        await fixture.Server.DrainAsync(TimeSpan.FromMinutes(10)); // would hang the test if it waited for the timeout
        Assert.Equal(503, (await fixture.GetAsync("/health")).Status);
    }

    private static string Shell(string command) =>
        JsonSerializer.Serialize(new { name = "shell", arguments = new { command } });
}
