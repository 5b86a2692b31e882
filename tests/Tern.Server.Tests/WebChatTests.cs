using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>Runs npm/webchat.mjs: one scenario of the web chat in Debian's chromium, its screenshots under TestResults/webchat.</summary>
internal static class WebChat
{
    public static string ShotFolder { get; } = Path.Combine(AppContext.BaseDirectory, "TestResults", "webchat");

    public static Task<JsonElement> RunAsync(string scenario, ServerFixture fixture, string? argument = null) =>
        RunAsync(scenario, fixture.Server.Address, argument);

    public static async Task<JsonElement> RunAsync(string scenario, string address, string? argument = null)
    {
        var result = await Npm.NodeAsync($"webchat.mjs {scenario} {address} \"{ShotFolder}\"" + (argument is null ? "" : $" \"{argument}\""));
        foreach (var shot in result.GetProperty("shots").EnumerateArray())
            TestContext.Current.TestOutputHelper?.WriteLine($"screenshot: {shot.GetString()}");
        Assert.False(result.TryGetProperty("failure", out var failure), $"{scenario}: {failure}\n{result}");
        Assert.True(result.GetProperty("pageErrors").GetArrayLength() == 0, $"script errors in the page: {result}");
        return result;
    }

    public static string Text(this JsonElement e, string property) => e.GetProperty(property).GetString()!;

    public static JsonElement ChatRequest(this JsonElement result, int index) => result.GetProperty("chatRequests")[index].GetProperty("body");
}

/// <summary>The web chat's files over plain HTTP, on a server with an API key: served without it, with a strict CSP.</summary>
public sealed class WebChatPageTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_page_is_served_without_a_key_with_a_strict_content_security_policy()
    {
        using var response = await fixture.Http.GetAsync("/", Cancel);
        string html = await response.Content.ReadAsStringAsync(Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Equal(WebChatRoutes.ContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("default-src 'none'", WebChatRoutes.ContentSecurityPolicy);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.NotNull(response.Headers.ETag);
        Assert.Contains("<script type=\"module\" src=\"webchat/chat.js\"></script>", html);
        // Nothing inline: the CSP would refuse it.
        Assert.DoesNotMatch(new Regex(@"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", RegexOptions.IgnoreCase), html);
    }

    [Theory]
    [InlineData("chat.css", "text/css; charset=utf-8")]
    [InlineData("chat.js", "text/javascript; charset=utf-8")]
    [InlineData("markdown.js", "text/javascript; charset=utf-8")]
    [InlineData("api.js", "text/javascript; charset=utf-8")]
    [InlineData("store.js", "text/javascript; charset=utf-8")]
    [InlineData("messages.js", "text/javascript; charset=utf-8")]
    public async Task Each_file_has_its_content_type_and_needs_no_key(string name, string contentType)
    {
        using var response = await fixture.Http.GetAsync("/webchat/" + name, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(contentType, response.Content.Headers.ContentType!.ToString());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal(WebChatRoutes.ContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.True((await response.Content.ReadAsByteArrayAsync(Cancel)).Length > 100);
    }

    [Fact]
    public async Task An_unchanged_file_is_answered_304_by_its_etag()
    {
        using var first = await fixture.Http.GetAsync("/webchat/chat.js", Cancel);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/webchat/chat.js");
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var second = await fixture.Http.SendAsync(request, Cancel);

        Assert.Equal("no-cache", first.Headers.CacheControl!.ToString());
        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
        Assert.Empty(await second.Content.ReadAsByteArrayAsync(Cancel));
    }

    [Theory]
    [InlineData("/webchat/nope.js")]
    [InlineData("/webchat/index.html")]
    [InlineData("/webchat/")]
    public async Task An_unknown_file_is_a_404(string path)
    {
        var (status, text) = await fixture.GetAsync(path);

        Assert.Equal(404, status);
        Assert.Equal("not_found", JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task The_api_still_needs_the_key()
    {
        Assert.Equal(401, (await fixture.GetAsync("/v1/models")).Status);
        Assert.Equal(401, (await fixture.PostAsync("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Hi"}]}""")).Status);
        Assert.Equal(200, (await fixture.GetAsync("/v1/models", "sekrit")).Status);
    }

    /// <summary>The page reads llama-server's timings for the speed line, cache_n included.</summary>
    [Fact]
    public async Task A_streamed_chat_ends_with_llama_server_timings()
    {
        string prefix = string.Concat(Enumerable.Repeat("The little girl walked in the park and saw a big red ball. ", 12));
        string body = JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = prefix } }, max_tokens = 3, stream = true, stream_options = new { include_usage = true },
        });
        await Sse.ChunksAsync(fixture, body, "sekrit");
        var chunks = await Sse.ChunksAsync(fixture, body, "sekrit");

        var timings = chunks.Single(c => c.TryGetProperty("timings", out _)).GetProperty("timings");
        var usage = chunks.Last().GetProperty("usage");
        int cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.True(cached > 0, usage.ToString());
        Assert.Equal(cached, timings.GetProperty("cache_n").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() - cached, timings.GetProperty("prompt_n").GetInt32());
        Assert.Equal(usage.GetProperty("completion_tokens").GetInt32(), timings.GetProperty("predicted_n").GetInt32());
        foreach (string field in new[] { "prompt_ms", "prompt_per_second", "predicted_ms", "predicted_per_second" })
            Assert.Equal(JsonValueKind.Number, timings.GetProperty(field).ValueKind);
    }

    [Fact]
    public async Task The_page_asks_for_the_key_and_works_once_it_is_entered()
    {
        var result = await WebChat.RunAsync("key", fixture, "sekrit");

        Assert.Contains("needs an API key", result.Text("prompt"));
        Assert.Contains("missing API key", result.Text("status"));
        Assert.True(result.GetProperty("promptHiddenAfter").GetBoolean());
        var answer = result.GetProperty("answer");
        Assert.Equal("", answer.Text("error"));
        Assert.NotEqual("", answer.Text("content").Trim());
        Assert.Equal("Bearer sekrit", result.GetProperty("chatRequests")[0].Text("authorization"));
        Assert.Equal(40, result.ChatRequest(0).GetProperty("max_tokens").GetInt32());
    }
}

/// <summary>The web chat in Debian's chromium against Tern serving stories260K.</summary>
public sealed class WebChatBrowserTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task A_message_gets_a_streamed_answer_and_its_speed()
    {
        var result = await WebChat.RunAsync("stream", fixture);

        Assert.Equal(["stories"], result.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        var request = result.ChatRequest(0);
        Assert.True(request.GetProperty("stream").GetBoolean());
        Assert.True(request.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal("stories", request.Text("model"));
        Assert.Equal("Once upon a time", request.GetProperty("messages").EnumerateArray().Last().Text("content"));
        // the settings panel's system prompt and sampling settings
        Assert.Equal("You tell short stories.", request.GetProperty("messages")[0].Text("content"));
        Assert.Equal("system", request.GetProperty("messages")[0].Text("role"));
        Assert.Equal(0.5, request.GetProperty("temperature").GetDouble());
        Assert.Equal(0.9, request.GetProperty("top_p").GetDouble());
        Assert.Equal(40, request.GetProperty("max_tokens").GetInt32());
        Assert.StartsWith("text/event-stream", result.Text("responseType"));
        var answer = result.GetProperty("answer");
        Assert.Equal("", answer.Text("error"));
        Assert.NotEqual("", answer.Text("content").Trim());
        Assert.Matches(@"^prompt \d+ tokens \(\d+ cached\) at [\d.]+ tokens/s · [1-9]\d* generated at [\d.]+ tokens/s$", answer.Text("stats"));
    }

    /// <summary>A router-mode server (--models-dir): the picker lists its models, and each answer comes from the one picked.</summary>
    [Fact]
    public async Task The_model_picker_lists_the_routers_models_and_each_answer_comes_from_the_picked_one()
    {
        await using var router = await RouterServer.StartAsync();
        var result = await WebChat.RunAsync("picker", router.Server.Address);

        Assert.Equal(["broken", "llama", "qwen3", "stories"], result.GetProperty("models").EnumerateArray().Select(m => m.GetString()).Order());
        Assert.Equal("stories", result.ChatRequest(0).Text("model"));
        Assert.Equal("llama", result.ChatRequest(1).Text("model"));
        Assert.Equal("stories", result.GetProperty("first").Text("role"));
        Assert.Equal("llama", result.GetProperty("second").Text("role"));
        Assert.NotEqual("", result.GetProperty("second").Text("content").Trim());
        Assert.Matches(@"^prompt \d+ tokens", result.GetProperty("second").Text("stats"));
        // The second request carries the whole conversation, the other model's answer included.
        Assert.Equal(3, result.ChatRequest(1).GetProperty("messages").GetArrayLength());
        // The corrupt model's answer is its load error, and the others are still loaded.
        Assert.Contains("broken", result.GetProperty("broken").Text("error"));
        Assert.DoesNotContain("loading", result.Text("finalStatus")); // a status "loading NAME" (from the stream's comments) ends with the load
        var states = await router.StatesAsync();
        Assert.Equal(("loaded", "loaded", "failed"), (states["stories"], states["llama"], states["broken"]));
    }

    [Fact]
    public async Task Stop_ends_the_answer_and_the_server_frees_its_sequence()
    {
        var result = await WebChat.RunAsync("stop", fixture);

        var answer = result.GetProperty("answer");
        Assert.Equal("Stopped.", answer.Text("error"));
        Assert.NotEqual("", answer.Text("content"));
        Assert.Equal("", answer.Text("stats")); // no usage came: the stream was cut before its end
        await fixture.WaitUntilIdleAsync();
        Assert.Contains("tern_active_sequences 0", (await fixture.GetAsync("/metrics")).Text);
    }

    [Fact]
    public async Task A_conversation_is_still_there_after_a_reload()
    {
        var result = await WebChat.RunAsync("reload", fixture);

        var conversation = result.GetProperty("conversations").EnumerateArray().Single();
        Assert.Equal("Once upon a time", conversation.Text("title"));
        Assert.True(conversation.GetProperty("current").GetBoolean());
        var messages = result.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(2, messages.Count);
        Assert.Equal("Once upon a time", messages[0].Text("text"));
        Assert.Equal(result.GetProperty("answer").Text("content"), messages[1].Text("text"));
        Assert.Single(result.GetProperty("reloadedStats").EnumerateArray());
    }
}

/// <summary>
/// The web chat against Tern with --tools (no key: the Host, Origin and JSON checks are on) and a scripted model
/// (see <see cref="ScriptedToolServerFixture"/>).
/// </summary>
public sealed class WebChatToolTests(ScriptedToolServerFixture fixture) : IClassFixture<ScriptedToolServerFixture>
{
    private const string ReadNotes = "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"notes.txt\"}}\n</tool_call>";

    [Fact]
    public async Task A_built_in_tool_run_shows_as_a_card_with_its_call_and_result()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script(ReadNotes, "<think>\nThe notes name a bird.\n</think>\n\nThe word is **tern**.");
        var result = await WebChat.RunAsync("tool", fixture, "What is in notes.txt?");

        var card = result.GetProperty("cards").EnumerateArray().Single();
        Assert.Equal("read_file", card.Text("tool"));
        Assert.Equal("Tool read_file ran", card.Text("summary"));
        Assert.True(card.GetProperty("open").GetBoolean());
        Assert.Equal("notes.txt", JsonDocument.Parse(card.Text("arguments")).RootElement.Text("path"));
        Assert.Contains("the secret word is tern", card.Text("output"));
        var answer = result.GetProperty("answer");
        Assert.Equal("The word is tern.", answer.Text("content").Trim());
        Assert.Contains("<strong>tern</strong>", answer.Text("html"));
        Assert.Equal("The notes name a bird.", answer.Text("reasoning").Trim());
        Assert.Matches(@"tokens/s", answer.Text("stats"));
    }

    /// <summary>
    /// The model writes markup meant to run script: it shows as text, and no CSP violation was needed to stop it.
    /// (window.pwned, not window.__pwned: llama-tiny's vocabulary cannot write underscores.)
    /// </summary>
    [Fact]
    public async Task Hostile_model_output_shows_as_text_and_runs_nothing()
    {
        const string Hostile = "Look: <script>window.pwned=1</script> and <img src=x onerror=\"window.pwned=2\"> and "
            + "[click me](javascript:window.pwned=3) and [docs](https://example.com/docs) and `<b>code</b>`\n\n"
            + "# A heading *with* <i>markup</i>\n\n- one <svg onload=\"window.pwned=4\">\n- two\n\n```html\n<script>window.pwned=5</script>\n```\n";
        fixture.Script(Hostile);
        var result = await WebChat.RunAsync("hostile", fixture);

        Assert.Equal(JsonValueKind.Null, result.GetProperty("pwned").ValueKind);
        Assert.Equal(0, result.GetProperty("cspViolations").GetArrayLength());
        string content = result.GetProperty("answer").Text("content");
        Assert.Contains("<script>window.pwned=1</script>", content);
        Assert.Contains("<img src=x onerror=\"window.pwned=2\">", content);
        Assert.Contains("[click me](javascript:window.pwned=3)", content);
        var elements = result.GetProperty("elements").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.DoesNotContain("script", elements);
        Assert.DoesNotContain("img", elements);
        Assert.DoesNotContain("b", elements);
        Assert.DoesNotContain("i", elements);
        Assert.DoesNotContain("svg", elements);
        // the markdown around it did render
        Assert.Contains("code", elements);
        Assert.Contains("h3", elements);
        Assert.Contains("em", elements);
        Assert.Equal(2, elements.Count(e => e == "li"));
        Assert.Contains("pre", elements);
        Assert.Contains("<svg onload=\"window.pwned=4\">", content);
        Assert.Contains("<script>window.pwned=5</script>", content);
        Assert.Equal(["https://example.com/docs"], result.GetProperty("links").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(WebChatRoutes.ContentSecurityPolicy, result.GetProperty("pageHeaders").Text("content-security-policy"));
    }

    [Fact]
    public async Task With_tools_on_the_page_is_under_the_host_check()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = "attacker.example";
        using var response = await fixture.Http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task A_streamed_chat_through_the_tool_loop_ends_with_timings()
    {
        File.WriteAllText(fixture.Workspace.File("notes.txt"), "the secret word is tern\n");
        fixture.Script(ReadNotes, "Done.");
        var chunks = await Sse.ChunksAsync(fixture, """{"messages": [{"role": "user", "content": "Read it"}], "stream": true}""");

        var finish = chunks.Single(c => c.TryGetProperty("timings", out _));
        Assert.Equal("stop", finish.GetProperty("choices")[0].Text("finish_reason"));
        Assert.True(finish.GetProperty("timings").GetProperty("predicted_n").GetInt32() > 0);
        Assert.True(finish.GetProperty("timings").TryGetProperty("cache_n", out _));
    }
}
