using System.Net;
using System.Text;
using System.Text.Json;

namespace Tern.Server.Tests;

/// <summary>
/// Graceful drain (<see cref="TernServer.DrainAsync"/>): new requests get 503 server_draining, /health 503 draining,
/// running ones finish; at the timeout the ones left are cut with an error, not a dropped connection.
/// (`tern serve`'s signals: Tern.Cli.Tests.ServeDrainTests.)
/// </summary>
public class DrainTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    /// <summary>stories260K with a 64k context: a reply with its end-of-text token banned runs for minutes unless it is cut.</summary>
    private sealed class LongReplyFixture : ServerFixture
    {
        protected override ServerOptions Options => base.Options with { ContextPerSequence = 65536, Parallel = 2 };
    }

    private static Task<(HttpResponseMessage Response, StreamReader Reader)> StartStreamAsync(ServerFixture fixture, string path, string json) =>
        SseStream.StartAsync(fixture.Http, path, json, Cancellation);

    private static Task<List<string>> ReadToEndAsync(StreamReader reader) => SseStream.ReadToEndAsync(reader, Cancellation);

    [Fact]
    public async Task While_draining_new_requests_and_health_get_503_and_the_running_stream_finishes()
    {
        await using var fixture = new ServerFixture();
        await fixture.InitializeAsync();
        var (response, reader) = await StartStreamAsync(fixture, "/v1/completions",
            """{"prompt":"Once upon a time","max_tokens":1000,"stream":true,"logit_bias":{"2":-100}}""");
        using var _ = response;

        var drain = fixture.Server.DrainAsync(TimeSpan.FromMinutes(10), Cancellation);
        var (healthStatus, health) = await fixture.GetAsync("/health");
        var (status, body, refused) = await fixture.PostAsync("/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}]}""");
        var events = await ReadToEndAsync(reader);
        await drain.WaitAsync(Bound, Cancellation);

        Assert.Equal(503, healthStatus);
        Assert.Equal("draining", JsonDocument.Parse(health).RootElement.GetProperty("status").GetString());
        Assert.Equal(503, status);
        Assert.Equal("server_draining", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("unavailable_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.True(refused.Headers.ConnectionClose); // the client's retry opens a new connection, to another replica
        Assert.Equal("[DONE]", events[^1]);
        Assert.Equal("length", JsonDocument.Parse(events[^2]).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.True(events.Count > 10); // it went on generating while the server drained
    }

    [Theory]
    [InlineData("/v1/completions", """{"prompt":"Once upon a time","max_tokens":60000,"stream":true,"logit_bias":{"2":-100}}""")]
    [InlineData("/v1/chat/completions", """{"messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":60000,"stream":true,"logit_bias":{"2":-100}}""")]
    public async Task A_stream_cut_at_the_timeout_ends_with_an_error_event(string path, string json)
    {
        await using var fixture = new LongReplyFixture();
        await fixture.InitializeAsync();
        var (response, reader) = await StartStreamAsync(fixture, path, json);
        using var _ = response;

        await fixture.Server.DrainAsync(TimeSpan.Zero, Cancellation).WaitAsync(Bound, Cancellation);
        var events = await ReadToEndAsync(reader);

        Assert.DoesNotContain("[DONE]", events);
        var error = JsonDocument.Parse(events[^1]).RootElement.GetProperty("error");
        Assert.Equal("server_draining", error.GetProperty("code").GetString());
        Assert.Equal("unavailable_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_messages_stream_cut_at_the_timeout_ends_with_an_anthropic_error_event()
    {
        await using var fixture = new LongReplyFixture();
        await fixture.InitializeAsync();
        var (response, reader) = await StartStreamAsync(fixture, "/v1/messages",
            """{"model":"stories","max_tokens":60000,"stream":true,"messages":[{"role":"user","content":"Once upon a time"}]}""");
        using var _ = response;

        await fixture.Server.DrainAsync(TimeSpan.Zero, Cancellation).WaitAsync(Bound, Cancellation);
        var events = await ReadToEndAsync(reader);

        var last = JsonDocument.Parse(events[^1]).RootElement;
        Assert.Equal("error", last.GetProperty("type").GetString());
        Assert.Equal("overloaded_error", last.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_non_streaming_request_cut_at_the_timeout_gets_a_503_error()
    {
        await using var fixture = new LongReplyFixture();
        await fixture.InitializeAsync();
        var reply = fixture.PostAsync("/v1/completions", """{"prompt":"Once upon a time","max_tokens":60000,"logit_bias":{"2":-100}}""");
        for (int i = 0; i < 4000 && !(await fixture.GetAsync("/metrics")).Text.Contains("tern_active_sequences 1"); i++)
            await Task.Delay(25, Cancellation); // until the engine runs it (a hang guard, not a timing)

        await fixture.Server.DrainAsync(TimeSpan.Zero, Cancellation).WaitAsync(Bound, Cancellation);
        var (status, body, _) = await reply.WaitAsync(Bound, Cancellation);

        Assert.Equal(503, status);
        Assert.Equal("server_draining", body.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Cutting_short_ends_a_long_drain_at_once()
    {
        await using var fixture = new LongReplyFixture();
        await fixture.InitializeAsync();
        var (response, reader) = await StartStreamAsync(fixture, "/v1/completions",
            """{"prompt":"Once upon a time","max_tokens":60000,"stream":true,"logit_bias":{"2":-100}}""");
        using var _ = response;
        using var cutNow = new CancellationTokenSource();

        var drain = fixture.Server.DrainAsync(TimeSpan.FromHours(1), cutNow.Token);
        Assert.False(drain.IsCompleted);
        await cutNow.CancelAsync();
        await drain.WaitAsync(Bound, Cancellation);
        var events = await ReadToEndAsync(reader);

        Assert.Equal("server_draining", JsonDocument.Parse(events[^1]).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Drain_returns_at_once_when_idle_and_the_server_then_refuses()
    {
        await using var fixture = new ServerFixture();
        await fixture.InitializeAsync();
        Assert.Equal(200, (await fixture.GetAsync("/health")).Status);

        await fixture.Server.DrainAsync(TimeSpan.FromHours(1), Cancellation).WaitAsync(Bound, Cancellation); // would time out if it waited for the timeout

        Assert.Equal(503, (await fixture.GetAsync("/health")).Status);
        var (status, body, _) = await fixture.PostAsync("/v1/messages", """{"model":"stories","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal(503, status);
        Assert.Equal("error", body.GetProperty("type").GetString()); // the Messages API's own error shape
    }
}
