using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// Graceful drain (<see cref="TernServer.DrainAsync"/>): new requests get 503 server_draining, /health 503 draining,
/// running ones finish; at the timeout the ones left are cut with an error, not a dropped connection.
/// </summary>
public class DrainTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

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
}
