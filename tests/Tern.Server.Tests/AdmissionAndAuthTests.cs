using Tern.Server;

namespace Tern.Server.Tests;

public sealed class KeyedServerFixture : ServerFixture
{
    protected override ServerOptions Options => base.Options with { ApiKey = "sekrit", Parallel = 1, QueueCapacity = 0, ContextPerSequence = 32768 };
}

/// <summary>API keys, and a full server answering 429 with Retry-After.</summary>
public sealed class AdmissionAndAuthTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>
{
    private const string Chat = """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}""";

    [Fact]
    public async Task A_missing_or_wrong_key_gets_401_and_the_right_key_passes()
    {
        var (missing, body, _) = await fixture.PostAsync("/v1/chat/completions", Chat);
        Assert.Equal(401, missing);
        Assert.Equal("authentication_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(401, (await fixture.PostAsync("/v1/chat/completions", Chat, "wrong")).Status);
        Assert.Equal(401, (await fixture.PostAsync("/v1/chat/completions", Chat, "sekrit-and-more")).Status);
        await fixture.WaitUntilIdleAsync("sekrit");
        Assert.Equal(200, (await fixture.PostAsync("/v1/chat/completions", Chat, "sekrit")).Status);
        Assert.Equal(200, (await fixture.GetAsync("/health")).Status); // health stays open for load balancers
    }

    [Fact]
    public async Task When_every_sequence_is_busy_and_the_queue_is_full_the_answer_is_429_with_retry_after()
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var longRequest = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent("""{"prompt": "Once upon a time", "max_tokens": 30000, "stream": true, "logit_bias": {"2": -100}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        longRequest.Headers.Authorization = new("Bearer", "sekrit");
        using var running = await fixture.Http.SendAsync(longRequest, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        var stream = await running.Content.ReadAsStreamAsync(cancel.Token);
        await stream.ReadExactlyAsync(new byte[16], cancel.Token); // the only sequence is busy

        var (status, body, response) = await fixture.PostAsync("/v1/chat/completions", Chat, "sekrit");
        Assert.Equal(429, status);
        Assert.Equal("rate_limit_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.NotNull(response.Headers.RetryAfter);
        // Hang up mid-stream (disposing an unfinished response aborts the connection): the server frees the sequence
        // at its next step instead of generating the remaining tokens for nobody.
        cancel.Cancel();
        await stream.DisposeAsync();
        running.Dispose();
        await fixture.WaitUntilIdleAsync("sekrit");
        Assert.Contains("tern_active_sequences 0", (await fixture.GetAsync("/metrics", "sekrit")).Text);
    }
}
