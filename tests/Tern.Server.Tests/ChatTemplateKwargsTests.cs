using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>stories260K (BOS &lt;s&gt;, EOS &lt;/s&gt;, as the goldens) served with the Qwen3.5 template (--chat-template-file).</summary>
public sealed class Qwen35TemplateFixture : ServerFixture
{
    protected override ServerOptions Options => base.Options with { ChatTemplateFile = SharedData.Path("templates/2026/Qwen-Qwen3.5-4B.jinja") };
}

/// <summary>
/// chat_template_kwargs, as llama-server takes it: its members are extra template variables (enable_thinking), on
/// /apply-template and /v1/chat/completions; the reasoning conversations of templates/2026/golden/cases-extra.json
/// render byte for byte as Jinja2 did.
/// </summary>
public sealed class ChatTemplateKwargsTests(Qwen35TemplateFixture fixture) : IClassFixture<Qwen35TemplateFixture>
{
    private static readonly Lazy<JsonObject> ExtraCases = new(() =>
        JsonNode.Parse(File.ReadAllText(SharedData.Path("templates/2026/golden/cases-extra.json")))!["cases"]!.AsObject());

    public static TheoryData<string> CaseNames() => [.. ExtraCases.Value.Select(kv => kv.Key)];

    public static TheoryData<string> Templates() =>
    [
        .. Directory.GetFiles(SharedData.Path("templates"), "*.jinja").Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal),
        .. Directory.GetFiles(SharedData.Path("templates/2026"), "*.jinja").Select(p => "2026/" + Path.GetFileName(p)).Order(StringComparer.Ordinal),
    ];

    /// <summary>
    /// Every template, old and new, served with --chat-template-file: /apply-template renders each reasoning case as
    /// Jinja2 did, or fails as a 400 with Jinja2's message where it raised. The goldens' date (strftime_now) is
    /// 2026-11-24; the server's clock is today's.
    /// </summary>
    [Theory]
    [MemberData(nameof(Templates))]
    public async Task Apply_template_renders_the_reasoning_cases_as_jinja2(string template)
    {
        await using var server = new TemplateServer(SharedData.Path($"templates/{template}"));
        await server.InitializeAsync();
        string name = Path.GetFileNameWithoutExtension(template);
        foreach (string caseName in ExtraCases.Value.Select(kv => kv.Key))
        {
            string golden = SharedData.Path($"templates/2026/golden/{name}.{caseName}");
            var before = DateTimeOffset.Now;
            var (status, body, _) = await server.PostAsync("/apply-template", Request(caseName).ToJsonString());
            var after = DateTimeOffset.Now;

            if (File.Exists(golden + ".error"))
            {
                Assert.Equal(400, status);
                Assert.Equal("template_error", body.GetProperty("error").GetProperty("code").GetString());
                Assert.StartsWith("the chat template failed: " + File.ReadAllText(golden + ".error").TrimEnd('\n'), body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
                continue;
            }

            string expected = File.ReadAllText(golden + ".txt");
            Assert.Equal(200, status);
            Assert.Contains(body.GetProperty("prompt").GetString(), new[] { OnDate(expected, before), OnDate(expected, after) });
        }
    }

    [Fact]
    public async Task Enable_thinking_reaches_the_template()
    {
        var (_, off, _) = await fixture.PostAsync("/apply-template", Request("enable_thinking_false").ToJsonString());
        var (_, on, _) = await fixture.PostAsync("/apply-template", Request("enable_thinking_true").ToJsonString());

        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", off.GetProperty("prompt").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("<|im_start|>assistant\n<think>\n", on.GetProperty("prompt").GetString(), StringComparison.Ordinal);
    }

    /// <summary>The chat prompt is the golden text (stories260K reads the Qwen markup as plain text): with and without tools, so through the tool loop too.</summary>
    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Chat_completions_prompt_is_the_rendered_template(string caseName)
    {
        string expected = File.ReadAllText(SharedData.Path($"templates/2026/golden/Qwen-Qwen3.5-4B.{caseName}.txt"));
        var (_, tokens, _) = await fixture.PostAsync("/tokenize", JsonSerializer.Serialize(new { content = expected, add_special = true, parse_special = true }));
        var request = Request(caseName);
        request["max_tokens"] = 1;
        request["temperature"] = 0;

        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", request.ToJsonString());

        Assert.Equal(200, status);
        Assert.Equal(tokens.GetProperty("tokens").GetArrayLength(), body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    /// <summary>A request with tools goes through the tool loop, whose turns render with the kwargs too.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Kwargs_reach_the_template_in_the_tool_loop(bool thinking)
    {
        var request = Request("enable_thinking_false");
        request["tools"] = ExtraCases.Value["reasoning_tool_loop"]!["tools"]!.DeepClone();
        request["chat_template_kwargs"] = new JsonObject { ["enable_thinking"] = thinking };
        var (_, rendered, _) = await fixture.PostAsync("/apply-template", request.ToJsonString());
        string prompt = rendered.GetProperty("prompt").GetString()!;
        var (_, tokens, _) = await fixture.PostAsync("/tokenize", JsonSerializer.Serialize(new { content = prompt, add_special = true, parse_special = true }));
        request["max_tokens"] = 1;
        request["temperature"] = 0;

        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions", request.ToJsonString());

        Assert.Equal(200, status);
        Assert.Contains("<tools>", prompt, StringComparison.Ordinal);
        Assert.Equal(!thinking, prompt.EndsWith("</think>\n\n", StringComparison.Ordinal));
        Assert.Equal(tokens.GetProperty("tokens").GetArrayLength(), body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    public static TheoryData<string, string, string> BadKwargs() => new()
    {
        { """[{"enable_thinking": false}]""", "chat_template_kwargs", "'chat_template_kwargs' must be an object, not an array" },
        { "\"enable_thinking=false\"", "chat_template_kwargs", "'chat_template_kwargs' must be an object, not a string" },
        { """{"enable_thinking": "false"}""", "chat_template_kwargs.enable_thinking", "'chat_template_kwargs.enable_thinking' must be a boolean, not a string" },
        { """{"messages": []}""", "chat_template_kwargs.messages", "'chat_template_kwargs.messages' cannot be set: the server passes 'messages' to the template itself" },
        { """{"tools": null}""", "chat_template_kwargs.tools", "'chat_template_kwargs.tools' cannot be set: the server passes 'tools' to the template itself" },
        { """{"add_generation_prompt": false}""", "chat_template_kwargs.add_generation_prompt", "'chat_template_kwargs.add_generation_prompt' cannot be set: the server passes 'add_generation_prompt' to the template itself" },
        { """{"x": 1, "x": 2}""", "chat_template_kwargs.x", "'chat_template_kwargs.x' is given twice" },
    };

    [Theory]
    [MemberData(nameof(BadKwargs))]
    public async Task Bad_kwargs_are_a_400_naming_them(string kwargs, string param, string message)
    {
        foreach (string path in new[] { "/apply-template", "/v1/chat/completions" })
        {
            var (status, body, _) = await fixture.PostAsync(path, $$"""{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "chat_template_kwargs": {{kwargs}}}""");

            Assert.Equal(400, status);
            var error = body.GetProperty("error");
            Assert.Equal(param, error.GetProperty("param").GetString());
            Assert.Equal(message, error.GetProperty("message").GetString());
        }
    }

    [Fact]
    public async Task Other_kwargs_are_template_variables_of_any_json_type()
    {
        var (status, body, _) = await fixture.PostAsync("/apply-template",
            """{"messages": [{"role": "user", "content": "Hi"}], "chat_template_kwargs": {"enable_thinking": true, "bos_token": "[B]", "extra": {"a": [1, null]}}}""");

        Assert.Equal(200, status);
        Assert.EndsWith("<think>\n", body.GetProperty("prompt").GetString(), StringComparison.Ordinal);
    }

    /// <summary>A golden's text with the date strftime_now gave (2026-11-24, as "%d %b %Y" and "%Y-%m-%d") set to <paramref name="now"/>'s.</summary>
    private static string OnDate(string golden, DateTimeOffset now) => golden
        .Replace("24 Nov 2026", now.ToString("dd MMM yyyy", System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("2026-11-24", now.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    private sealed class TemplateServer(string templateFile) : ServerFixture
    {
        protected override ServerOptions Options => base.Options with { ChatTemplateFile = templateFile };
    }

    /// <summary>A case of cases-extra.json as an OpenAI client sends it: tool-call arguments as a JSON string.</summary>
    private static JsonObject Request(string caseName)
    {
        var testCase = ExtraCases.Value[caseName]!.DeepClone().AsObject();
        foreach (var call in testCase["messages"]!.AsArray().SelectMany(m => m!["tool_calls"]?.AsArray() ?? []))
            call!["function"]!["arguments"] = call["function"]!["arguments"]!.ToJsonString();
        return testCase;
    }
}
