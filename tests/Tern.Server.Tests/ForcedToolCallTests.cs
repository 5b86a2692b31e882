using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using Tern.Chat.ToolCalls;
using Tern.Runtime.Grammar;

namespace Tern.Server.Tests;

/// <summary>The grammar of a forced tool call, per tool-call format: what it accepts parses as the call it should be.</summary>
public sealed class ToolCallGrammarTests
{
    private static JsonArray Tools() => (JsonArray)JsonNode.Parse("""
        [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
           "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}, "unit": {"type": "string", "enum": ["c", "f"]}},
           "required": ["city"]}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}}]
        """)!;

    [Theory]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}\n</tool_call>")]
    [InlineData(ToolCallFormat.Generic, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}")]
    [InlineData(ToolCallFormat.Llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 3}}")]
    [InlineData(ToolCallFormat.QwenXml, "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>")]
    public void A_valid_call_matches_and_parses(ToolCallFormat format, string text)
    {
        var grammar = ToolCallGrammar.For(format, Tools(), only: null, parallel: false, closeReasoning: null);

        Assert.True(GrammarMatcher.Matches(grammar, text), grammar.Source);
        var call = Assert.Single(ToolCallParser.Parse(format, text, tools: Tools()).Calls);
        Assert.Equal("get_weather", call.Name);
        var arguments = JsonNode.Parse(call.Arguments)!;
        Assert.Equal("Paris", arguments["city"]!.GetValue<string>());
        Assert.Equal(3, arguments["days"]!.GetValue<int>());
    }

    [Theory]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_wether\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>")] // unknown tool
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"days\": 3}}\n</tool_call>")] // required city missing
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 9}}\n</tool_call>")] // out of bounds
    [InlineData(ToolCallFormat.Hermes, "Sure! <tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>")] // text first
    [InlineData(ToolCallFormat.QwenXml, "<tool_call>\n<function=get_weather>\n<parameter=unit>\nk\n</parameter>\n</function>\n</tool_call>")]
    [InlineData(ToolCallFormat.QwenXml, "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=unit>\nk\n</parameter>\n</function>\n</tool_call>")]
    public void An_invalid_call_does_not_match(ToolCallFormat format, string text) =>
        Assert.False(GrammarMatcher.Matches(ToolCallGrammar.For(format, Tools(), only: null, parallel: false, closeReasoning: null), text));

    [Fact]
    public void A_named_function_is_the_only_one_allowed_and_parallel_calls_follow_each_other()
    {
        const string time = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"UTC\"}}\n</tool_call>";
        const string weather = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        var named = ToolCallGrammar.For(ToolCallFormat.Hermes, Tools(), only: "get_time", parallel: false, closeReasoning: null);
        var parallel = ToolCallGrammar.For(ToolCallFormat.Hermes, Tools(), only: null, parallel: true, closeReasoning: null);

        Assert.True(GrammarMatcher.Matches(named, time));
        Assert.False(GrammarMatcher.Matches(named, weather));
        Assert.False(GrammarMatcher.Matches(named, time + "\n" + time));
        Assert.True(GrammarMatcher.Matches(parallel, time + "\n" + weather));
    }

    [Fact]
    public void An_open_reasoning_block_is_closed_first()
    {
        var grammar = ToolCallGrammar.For(ToolCallFormat.QwenXml, Tools(), only: "get_time", parallel: false, closeReasoning: "</think>");
        Assert.True(GrammarMatcher.Matches(grammar, "</think>\n\n<tool_call>\n<function=get_time>\n</function>\n</tool_call>"));
        Assert.False(GrammarMatcher.Matches(grammar, "<tool_call>\n<function=get_time>\n</function>\n</tool_call>"));
    }

    [Theory]
    [InlineData(ToolCallFormat.Gemma4, null, "tool_choice")]
    [InlineData(ToolCallFormat.Mistral, null, "tool_choice")]
    [InlineData(ToolCallFormat.Hermes, "get_news", "tool_choice")]
    public void A_call_that_cannot_be_forced_is_a_400(ToolCallFormat format, string? only, string param)
    {
        var e = Assert.Throws<ApiException>(() => ToolCallGrammar.For(format, Tools(), only, parallel: false, closeReasoning: null));
        Assert.Equal(400, e.Status);
        Assert.Equal(param, e.Param);
    }

    [Fact]
    public void A_schema_the_grammar_cannot_express_is_a_400_naming_it()
    {
        var tools = (JsonArray)JsonNode.Parse("""[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 3}}}}}]""")!;
        var xml = (JsonArray)JsonNode.Parse("""[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"s": {"type": "string", "pattern": "^a+$"}}}}}]""")!;

        var e = Assert.Throws<ApiException>(() => ToolCallGrammar.For(ToolCallFormat.Hermes, tools, null, false, null));
        Assert.Equal("tools[0].function.parameters", e.Param);
        Assert.Contains("multipleOf", e.Message);
        var x = Assert.Throws<ApiException>(() => ToolCallGrammar.For(ToolCallFormat.QwenXml, xml, null, false, null));
        Assert.Equal("tools[0].function.parameters.properties.s", x.Param);
    }
}

/// <summary>stories260K (random to these tools: it knows no markup) with a real tool-calling template.</summary>
public sealed class ForcedCallQwen3Fixture : ServerFixture
{
    protected override ServerOptions Options => base.Options with { ChatTemplateFile = SharedData.Path("templates/Qwen-Qwen3.jinja") };
}

public sealed class ForcedCallQwen35Fixture : ServerFixture
{
    protected override ServerOptions Options => base.Options with { ChatTemplateFile = SharedData.Path("templates/2026/Qwen-Qwen3.5-4B.jinja") };
}

/// <summary>
/// tool_choice "required" and a named function, end to end: a model that has never seen the markup (stories260K)
/// calls a tool every time, at temperature 1 over many seeds, and its arguments validate against the tool's schema.
/// </summary>
public abstract class ForcedToolCallTests(ServerFixture fixture)
{
    private const string Parameters = """{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city", "days"]}""";

    private static readonly string ToolsJson = """
        [{"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}}, "required": ["zone"]}}}]
        """.Replace("PARAMETERS", Parameters);

    [Theory]
    [InlineData("\"required\"", null)]
    [InlineData("""{"type": "function", "function": {"name": "get_weather"}}""", "get_weather")]
    public async Task Every_seed_calls_a_tool_with_valid_arguments(string toolChoice, string? name)
    {
        var schemas = JsonNode.Parse(ToolsJson)!.AsArray().ToDictionary(t => t!["function"]!["name"]!.GetValue<string>(), t => JsonSchema.FromText(t!["function"]!["parameters"]!.ToJsonString()));
        for (int seed = 1; seed <= 12; seed++)
        {
            var (status, body, _) = await fixture.PostAsync("/v1/chat/completions",
                $$$"""{"messages": [{"role": "user", "content": "Weather?"}], "tools": {{{ToolsJson}}}, "tool_choice": {{{toolChoice}}}, "temperature": 1, "seed": {{{seed}}}, "max_tokens": 1000, "parallel_tool_calls": false}""");

            Assert.Equal(200, status);
            var choice = body.GetProperty("choices")[0];
            Assert.True(choice.GetProperty("finish_reason").GetString() == "tool_calls", body.GetRawText());
            var call = Assert.Single(choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray().ToList()).GetProperty("function");
            string called = call.GetProperty("name").GetString()!;
            if (name is not null)
                Assert.Equal(name, called);
            using var arguments = JsonDocument.Parse(call.GetProperty("arguments").GetString()!);
            Assert.True(schemas[called].Evaluate(arguments.RootElement).IsValid, $"seed {seed}: {call.GetRawText()}");
        }
    }

    /// <summary>The Responses API's tool_choice: a function_call item whose arguments validate.</summary>
    [Theory]
    [InlineData("\"required\"", null)]
    [InlineData("""{"type": "function", "name": "get_time"}""", "get_time")]
    public async Task Responses_forced_calls_validate(string toolChoice, string? name)
    {
        string tools = JsonNode.Parse(ToolsJson)!.AsArray().Select(t => new JsonObject { ["type"] = "function", ["name"] = t!["function"]!["name"]!.DeepClone(), ["parameters"] = t["function"]!["parameters"]!.DeepClone() }).Aggregate(new JsonArray(), (a, t) => { a.Add(t); return a; }).ToJsonString();
        for (int seed = 1; seed <= 4; seed++)
        {
            var request = new JsonObject
            {
                ["input"] = "Weather?", ["tools"] = JsonNode.Parse(tools), ["tool_choice"] = JsonNode.Parse(toolChoice),
                ["temperature"] = 1, ["top_p"] = 1 - seed / 10.0, ["max_output_tokens"] = 1000, ["parallel_tool_calls"] = false,
            };
            var (status, body, _) = await fixture.PostAsync("/v1/responses", request.ToJsonString());

            Assert.Equal(200, status);
            var call = Assert.Single(body.GetProperty("output").EnumerateArray().Where(o => o.GetProperty("type").GetString() == "function_call").ToList());
            AssertValid(call.GetProperty("name").GetString()!, call.GetProperty("arguments").GetString()!, name);
        }
    }

    /// <summary>Anthropic's tool_choice any and tool: the message stops with tool_use and the input validates.</summary>
    [Theory]
    [InlineData("""{"type": "any", "disable_parallel_tool_use": true}""", null)]
    [InlineData("""{"type": "tool", "name": "get_weather"}""", "get_weather")]
    public async Task Messages_forced_tool_use_validates(string toolChoice, string? name)
    {
        string tools = JsonNode.Parse(ToolsJson)!.AsArray().Select(t => new JsonObject { ["name"] = t!["function"]!["name"]!.DeepClone(), ["input_schema"] = t["function"]!["parameters"]!.DeepClone() }).Aggregate(new JsonArray(), (a, t) => { a.Add(t); return a; }).ToJsonString();
        var (status, body, _) = await fixture.PostAsync("/v1/messages",
            $$$"""{"model": "m", "max_tokens": 1000, "temperature": 1, "tools": {{{tools}}}, "tool_choice": {{{toolChoice}}}, "messages": [{"role": "user", "content": "Weather?"}]}""");

        Assert.Equal(200, status);
        Assert.Equal("tool_use", body.GetProperty("stop_reason").GetString());
        var uses = body.GetProperty("content").EnumerateArray().Where(b => b.GetProperty("type").GetString() == "tool_use").ToList();
        Assert.NotEmpty(uses);
        foreach (var use in uses)
            AssertValid(use.GetProperty("name").GetString()!, use.GetProperty("input").GetRawText(), name);
    }

    private static void AssertValid(string called, string arguments, string? name)
    {
        var schemas = JsonNode.Parse(ToolsJson)!.AsArray().ToDictionary(t => t!["function"]!["name"]!.GetValue<string>(), t => JsonSchema.FromText(t!["function"]!["parameters"]!.ToJsonString()));
        if (name is not null)
            Assert.Equal(name, called);
        using var document = JsonDocument.Parse(arguments);
        Assert.True(schemas[called].Evaluate(document.RootElement).IsValid, $"{called}: {arguments}");
    }

    [Fact]
    public async Task Required_without_tools_is_a_400()
    {
        var (status, error, _) = await fixture.PostAsync("/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "tool_choice": "required"}""");

        Assert.Equal(400, status);
        Assert.Equal("tool_choice", error.GetProperty("error").GetProperty("param").GetString());
    }
}

public sealed class ForcedToolCallHermesTests(ForcedCallQwen3Fixture fixture) : ForcedToolCallTests(fixture), IClassFixture<ForcedCallQwen3Fixture>;

public sealed class ForcedToolCallQwenXmlTests(ForcedCallQwen35Fixture fixture) : ForcedToolCallTests(fixture), IClassFixture<ForcedCallQwen35Fixture>;

/// <summary>
/// "strict": true under tool_choice auto: the model writes free text and, once it opens a call (here the test writes
/// the opening markup for it), the call is generated under the tool's schema up to its close.
/// </summary>
public abstract class StrictToolCallTests(ServerFixture fixture)
{
    private const string Parameters = """{"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}, "days": {"type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city", "days"], "additionalProperties": false}""";

    private static string Tools(bool strict) =>
        """[{"type": "function", "function": {"name": "get_weather", "strict": STRICT, "parameters": PARAMETERS}}]""".Replace("STRICT", strict ? "true" : "false").Replace("PARAMETERS", Parameters);

    [Fact]
    public async Task A_strict_tools_call_validates_once_the_model_opens_it()
    {
        var schema = JsonSchema.FromText(Parameters);
        var model = fixture.Server.Model!;
        int[] opening = model.Tokenizer.Encode("<tool_call>\n", addSpecial: false);
        model.Engine.TokenOverride = (_, generated) => generated < opening.Length ? opening[generated] : null;
        try
        {
            int valid = 0, looseValid = 0;
            for (int seed = 1; seed <= 8; seed++)
            {
                var strict = await Chat(Tools(strict: true), seed);
                var call = Assert.Single(strict.GetProperty("message").GetProperty("tool_calls").EnumerateArray().ToList()).GetProperty("function");
                using (var arguments = JsonDocument.Parse(call.GetProperty("arguments").GetString()!))
                    valid += schema.Evaluate(arguments.RootElement).IsValid ? 1 : 0;

                // The same model without strict: its "call" after the opening markup is noise.
                var loose = await Chat(Tools(strict: false), seed);
                looseValid += loose.GetProperty("message").TryGetProperty("tool_calls", out _) ? 1 : 0;
            }

            Assert.Equal(8, valid);
            Assert.True(looseValid < 8, "without strict the random model should not always write a valid call");
        }
        finally
        {
            model.Engine.TokenOverride = null;
        }
    }

    /// <summary>The Responses API's and the Messages API's strict tools, the same way.</summary>
    [Fact]
    public async Task Strict_tools_on_responses_and_messages_validate()
    {
        var schema = JsonSchema.FromText(Parameters);
        var model = fixture.Server.Model!;
        int[] opening = model.Tokenizer.Encode("<tool_call>\n", addSpecial: false);
        model.Engine.TokenOverride = (_, generated) => generated < opening.Length ? opening[generated] : null;
        try
        {
            for (int i = 0; i < 3; i++)
            {
                var (status, response, _) = await fixture.PostAsync("/v1/responses",
                    """{"input": "Weather?", "tools": [{"type": "function", "name": "get_weather", "strict": true, "parameters": PARAMETERS}], "max_output_tokens": 300, "reasoning": {"effort": "none"}}""".Replace("PARAMETERS", Parameters));
                Assert.Equal(200, status);
                var call = response.GetProperty("output").EnumerateArray().Single(o => o.GetProperty("type").GetString() == "function_call");
                using (var arguments = JsonDocument.Parse(call.GetProperty("arguments").GetString()!))
                    Assert.True(schema.Evaluate(arguments.RootElement).IsValid, call.GetRawText());

                (status, var message, _) = await fixture.PostAsync("/v1/messages",
                    """{"model": "m", "max_tokens": 300, "thinking": {"type": "disabled"}, "tools": [{"name": "get_weather", "strict": true, "input_schema": PARAMETERS}], "messages": [{"role": "user", "content": "Weather?"}]}""".Replace("PARAMETERS", Parameters));
                Assert.Equal(200, status);
                var use = message.GetProperty("content").EnumerateArray().Single(b => b.GetProperty("type").GetString() == "tool_use");
                Assert.True(schema.Evaluate(use.GetProperty("input")).IsValid, use.GetRawText());
            }
        }
        finally
        {
            model.Engine.TokenOverride = null;
        }
    }

    [Fact]
    public async Task Strict_must_be_a_boolean()
    {
        var (status, error, _) = await fixture.PostAsync("/v1/chat/completions",
            """{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]}""");

        Assert.Equal(400, status);
        Assert.Equal("tools[0].function.strict", error.GetProperty("error").GetProperty("param").GetString());
    }

    private async Task<JsonElement> Chat(string tools, int seed)
    {
        var (status, body, _) = await fixture.PostAsync("/v1/chat/completions",
            """{"messages": [{"role": "user", "content": "Weather?"}], "tools": TOOLS, "temperature": 1, "seed": SEED, "max_tokens": 300, "chat_template_kwargs": {"enable_thinking": false}}"""
                .Replace("TOOLS", tools).Replace("SEED", seed.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(200, status);
        return body.GetProperty("choices")[0];
    }
}

public sealed class StrictToolCallHermesTests(ForcedCallQwen3Fixture fixture) : StrictToolCallTests(fixture), IClassFixture<ForcedCallQwen3Fixture>;

public sealed class StrictToolCallQwenXmlTests(ForcedCallQwen35Fixture fixture) : StrictToolCallTests(fixture), IClassFixture<ForcedCallQwen35Fixture>;
