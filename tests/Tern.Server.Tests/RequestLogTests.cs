using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>A keyed server logging JSON lines to a file, without --log-prompts.</summary>
public sealed class JsonLogFixture : ServerFixture
{
    public const string Key = "sk-log-test-5f1c9a";

    public string LogFile { get; } = Path.Combine(Path.GetTempPath(), $"tern-log-{Guid.NewGuid():N}.jsonl");

    protected override ServerOptions Options => base.Options with { ApiKey = Key, LogFile = LogFile, LogFormat = "json" };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(LogFile);
    }
}

/// <summary>The same, as text lines and with --log-prompts.</summary>
public sealed class PromptLogFixture : ServerFixture
{
    public string LogFile { get; } = Path.Combine(Path.GetTempPath(), $"tern-log-{Guid.NewGuid():N}.log");

    protected override ServerOptions Options => base.Options with { ApiKey = JsonLogFixture.Key, LogFile = LogFile, LogPrompts = true };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(LogFile);
    }
}

/// <summary>The request log (--log-file, --log-format, --log-prompts): one line per request with its fields, and no prompt or key unless asked.</summary>
public sealed class RequestLogTests(JsonLogFixture fixture) : IClassFixture<JsonLogFixture>
{
    private const string Secret = "purple umbrella zebra";

    [Fact]
    public async Task A_chat_request_logs_one_json_line_with_its_fields_and_no_prompt_or_key()
    {
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions",
            JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = Secret } }, max_tokens = 3, temperature = 0 }), JsonLogFixture.Key);
        Assert.Equal(200, status);
        string id = body.GetProperty("id").GetString()!;

        var line = await RequestLine(fixture.LogFile, s => s.GetProperty("Id").GetString() == id);

        Assert.Equal("Tern.Request", line.GetProperty("Category").GetString());
        Assert.Equal("Information", line.GetProperty("LogLevel").GetString());
        var state = line.GetProperty("State");
        Assert.Equal("POST", state.GetProperty("Method").GetString());
        Assert.Equal("/v1/chat/completions", state.GetProperty("Route").GetString());
        Assert.Equal("stories", state.GetProperty("Model").GetString());
        Assert.Equal(200, state.GetProperty("Status").GetInt32());
        var usage = body.GetProperty("usage");
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), state.GetProperty("PromptTokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(), state.GetProperty("CachedTokens").GetInt32());
        Assert.Equal(usage.GetProperty("completion_tokens").GetInt32(), state.GetProperty("GeneratedTokens").GetInt32());
        Assert.True(state.GetProperty("TtftMs").GetDouble() >= 0);
        Assert.True(state.GetProperty("TotalMs").GetDouble() >= state.GetProperty("TtftMs").GetDouble());
        Assert.Equal("127.0.0.1", state.GetProperty("Client").GetString());
        Assert.Equal(JsonValueKind.Null, state.GetProperty("Prompt").ValueKind);
        AssertNoSecrets(File.ReadAllText(fixture.LogFile));
    }

    [Fact]
    public async Task A_streamed_chat_request_logs_its_tokens_and_time_to_first_token()
    {
        string events = await StreamAsync("/v1/chat/completions",
            JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = Secret } }, max_tokens = 4, temperature = 0, stream = true, stream_options = new { include_usage = true } }));
        var usage = events.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l["data: ".Length..]).RootElement).Last(e => e.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object);
        string id = usage.GetProperty("id").GetString()!;

        var state = (await RequestLine(fixture.LogFile, s => s.GetProperty("Id").GetString() == id)).GetProperty("State");

        Assert.Equal(200, state.GetProperty("Status").GetInt32());
        Assert.Equal(usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), state.GetProperty("GeneratedTokens").GetInt32());
        Assert.True(state.GetProperty("PromptTokens").GetInt32() > 0);
        Assert.True(state.GetProperty("TtftMs").GetDouble() > 0);
        AssertNoSecrets(File.ReadAllText(fixture.LogFile));
    }

    [Fact]
    public async Task A_messages_request_through_the_turn_starter_logs_its_tokens()
    {
        var (status, body, _) = await fixture.PostAsync("/v1/messages",
            JsonSerializer.Serialize(new { model = "stories", max_tokens = 3, messages = new[] { new { role = "user", content = Secret } } }), JsonLogFixture.Key);
        Assert.Equal(200, status);
        string id = body.GetProperty("id").GetString()!;

        var state = (await RequestLine(fixture.LogFile, s => s.GetProperty("Id").GetString() == id)).GetProperty("State");

        Assert.Equal("/v1/messages", state.GetProperty("Route").GetString());
        Assert.Equal(body.GetProperty("usage").GetProperty("output_tokens").GetInt32(), state.GetProperty("GeneratedTokens").GetInt32());
        Assert.True(state.GetProperty("PromptTokens").GetInt32() > 0);
    }

    [Fact]
    public async Task A_bad_request_logs_its_status_and_error_code_but_not_the_request()
    {
        var (status, _, _) = await fixture.PostAsync("/v1/chat/completions",
            JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = Secret } }, temperature = "hot " + Secret }), JsonLogFixture.Key);
        Assert.Equal(400, status);

        var line = await RequestLine(fixture.LogFile, s => s.GetProperty("Status").GetInt32() == 400);

        Assert.Equal("Warning", line.GetProperty("LogLevel").GetString());
        Assert.Equal("/v1/chat/completions", line.GetProperty("State").GetProperty("Route").GetString());
        Assert.Equal("invalid_type", line.GetProperty("State").GetProperty("Error").GetString());
        AssertNoSecrets(File.ReadAllText(fixture.LogFile));
    }

    [Fact]
    public async Task A_wrong_key_logs_a_401_without_either_key()
    {
        const string wrong = "sk-wrong-key-77e2b0";
        var (status, _, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}]}""", wrong);
        Assert.Equal(401, status);

        var line = await RequestLine(fixture.LogFile, s => s.GetProperty("Status").GetInt32() == 401);

        Assert.Equal("invalid_api_key", line.GetProperty("State").GetProperty("Error").GetString());
        string log = File.ReadAllText(fixture.LogFile);
        Assert.DoesNotContain(wrong, log, StringComparison.Ordinal);
        AssertNoSecrets(log);
    }

    [Fact]
    public async Task Startup_and_the_model_load_are_logged()
    {
        var lines = await Task.FromResult(File.ReadAllLines(fixture.LogFile).Select(l => JsonDocument.Parse(l).RootElement).ToList());

        Assert.Contains(lines, l => l.GetProperty("Category").GetString() == "Tern.Server" && l.GetProperty("Message").GetString() == $"listening on {fixture.Server.Address}");
        Assert.Contains(lines, l => l.GetProperty("Message").GetString()!.StartsWith("model stories loaded from ", StringComparison.Ordinal));
    }

    private static void AssertNoSecrets(string log)
    {
        Assert.DoesNotContain("umbrella", log, StringComparison.Ordinal);
        Assert.DoesNotContain(JsonLogFixture.Key, log, StringComparison.Ordinal);
    }

    private async Task<string> StreamAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", JsonLogFixture.Key);
        using var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)response.StatusCode);
        return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>The request line whose state matches, once written (the line follows the response; a hang guard, not a timing).</summary>
    internal static async Task<JsonElement> RequestLine(string file, Func<JsonElement, bool> match)
    {
        for (int i = 0; ; i++)
        {
            var found = File.ReadAllLines(file).Select(l => JsonDocument.Parse(l).RootElement)
                .Where(l => l.GetProperty("Category").GetString() == "Tern.Request" && match(l.GetProperty("State"))).ToList();
            if (found.Count > 0 || i == 400)
                return Assert.Single(found);
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>Text lines, one per request; with --log-prompts the prompt is in them.</summary>
public sealed class PromptLogTests(PromptLogFixture fixture) : IClassFixture<PromptLogFixture>
{
    [Fact]
    public async Task Text_format_writes_one_line_per_request_with_the_prompt_under_log_prompts()
    {
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions",
            """{"messages":[{"role":"user","content":"purple umbrella zebra"}],"max_tokens":2}""", JsonLogFixture.Key);
        Assert.Equal(200, status);
        string id = body.GetProperty("id").GetString()!;

        string[] lines = [];
        for (int i = 0; i < 400 && lines.Length == 0; i++)
        {
            lines = File.ReadAllLines(fixture.LogFile).Where(l => l.Contains($"request {id} ", StringComparison.Ordinal)).ToArray();
            if (lines.Length == 0)
                await Task.Delay(25, TestContext.Current.CancellationToken);
        }

        string line = Assert.Single(lines);
        Assert.Contains(" Information Tern.Request: request " + id + " POST /v1/chat/completions model=stories status=200 prompt_tokens=", line, StringComparison.Ordinal);
        Assert.Contains("client=127.0.0.1", line, StringComparison.Ordinal);
        Assert.Contains("purple umbrella zebra", line, StringComparison.Ordinal);
        Assert.DoesNotContain(JsonLogFixture.Key, File.ReadAllText(fixture.LogFile), StringComparison.Ordinal);
    }
}
