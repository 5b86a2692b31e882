using System.ClientModel;
using System.Text.Json;
using Json.Schema;
using OpenAI;
using OpenAI.Chat;
using Tern.Runtime.Grammar;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>A random-weight Qwen3 model with the real Qwen3 chat template: its text is noise unless a grammar shapes it.</summary>
public sealed class StructuredOutputFixture : ServerFixture
{
    protected override ServerOptions Options => new()
    {
        ModelPath = SharedData.Path("models/qwen3-tiny-q8_0.gguf"),
        ChatTemplateFile = SharedData.Path("templates/Qwen-Qwen3.jinja"),
        Port = 0,
        Parallel = 4,
        Alias = "qwen3-tiny",
    };
}

public sealed class StructuredOutputTests(StructuredOutputFixture fixture) : IClassFixture<StructuredOutputFixture>
{
    private const string Person = """{"type":"object","properties":{"name":{"type":"string","minLength":1,"maxLength":10},"age":{"type":"integer","minimum":0,"maximum":120},"pets":{"type":"array","items":{"enum":["cat","dog"]},"maxItems":3},"born":{"type":"string","format":"date"}},"required":["name","age","pets","born"],"additionalProperties":false}""";

    private static readonly EvaluationOptions Formats = new() { RequireFormatValidation = true };

    private ChatClient Client() => new("qwen3-tiny", new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = new Uri(fixture.Server.Address + "/v1") });

    private static bool Valid(string schema, string json) =>
        JsonSchema.FromText(schema).Evaluate(JsonDocument.Parse(json).RootElement, Formats).IsValid;

    [Fact]
    public async Task The_OpenAI_dotnet_sdk_gets_json_that_validates_against_its_json_schema()
    {
        for (int seed = 0; seed < 6; seed++)
        {
            var options = new ChatCompletionOptions
            {
                Temperature = 1,
                MaxOutputTokenCount = 400,
                ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(Person), jsonSchemaIsStrict: true),
            };
#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK
            options.Seed = seed;
#pragma warning restore OPENAI001
            var completion = (await Client().CompleteChatAsync([new UserChatMessage("Describe a person as JSON.")], options, TestContext.Current.CancellationToken)).Value;
            Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
            string text = completion.Content[0].Text;
            Assert.True(Valid(Person, text), $"seed {seed}: {text}");
        }
    }

    [Fact]
    public async Task Json_object_format_gives_an_object_through_the_dotnet_sdk_streaming()
    {
        var options = new ChatCompletionOptions { Temperature = 1, MaxOutputTokenCount = 300, ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() };
        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in Client().CompleteChatStreamingAsync([new UserChatMessage("JSON please")], options, TestContext.Current.CancellationToken))
        {
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            finish ??= update.FinishReason;
        }

        // Random weights ramble inside an unbounded string, so the reply may stop at max_tokens: it must still be
        // a prefix the json_object grammar accepts, and whole JSON when it stopped on its own.
        var matcher = new GrammarMatcher(JsonSchemaGrammar.JsonObject());
        Assert.True(matcher.Accept(text.ToString()), text.ToString());
        Assert.Equal(finish == ChatFinishReason.Stop, matcher.IsComplete);
        if (finish == ChatFinishReason.Stop)
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(text.ToString()).RootElement.ValueKind);
    }

    [Fact]
    public async Task The_openai_npm_package_gets_valid_json_streamed_and_not()
    {
        var result = await Npm.NodeAsync($"structured-output.mjs {fixture.Server.Address}/v1 qwen3-tiny");
        Assert.True(result.GetProperty("failures").GetArrayLength() == 0, result.GetRawText());
        Assert.Equal(8, result.GetProperty("valid").GetInt32());
    }

    [Fact]
    public async Task Llama_server_grammar_field_constrains_completions()
    {
        for (int seed = 0; seed < 5; seed++)
        {
            var (status, body, _) = await fixture.PostAsync("/v1/completions",
                $$"""{"prompt":"Answer:","temperature":1,"seed":{{seed}},"max_tokens":20,"grammar":"root ::= (\"yes\" | \"no\") \".\""}""");
            Assert.Equal(200, status);
            Assert.Contains(body.GetProperty("choices")[0].GetProperty("text").GetString(), new[] { "yes.", "no." });
            Assert.Equal("stop", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        }
    }

    [Fact]
    public async Task Llama_server_json_schema_field_works_on_chat_and_completions()
    {
        const string schema = """{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer","minimum":1,"maximum":3}},"required":["ok","n"]}""";
        var (status, body, _) = await fixture.PostAsync("/v1/completions", $$"""{"prompt":"x","temperature":1,"max_tokens":100,"json_schema":{{schema}}}""");
        Assert.Equal(200, status);
        Assert.True(Valid(schema, body.GetProperty("choices")[0].GetProperty("text").GetString()!));
        (status, body, _) = await fixture.PostAsync("/v1/chat/completions",
            $$"""{"messages":[{"role":"user","content":"x"}],"temperature":1,"max_tokens":100,"json_schema":{{schema}}}""");
        Assert.Equal(200, status);
        Assert.True(Valid(schema, body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!));
    }

    [Theory]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","not":{}}}}}""", "response_format.json_schema.schema", "keyword 'not'")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","format":"hostname"}}}}""", "response_format.json_schema.schema", "'format' 'hostname'")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"$ref":"#/$defs/nope"}}}}""", "response_format.json_schema.schema", "does not exist")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{},"extra":1}}}""", "response_format.json_schema.extra", "unknown field 'extra'")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":"object"}}}""", "response_format.json_schema.schema", "must be a JSON schema object")]
    [InlineData("""{"response_format":{"type":"json_schema"}}""", "response_format.json_schema", "must be an object")]
    [InlineData("""{"response_format":{"type":"xml"}}""", "response_format.type", "'xml'")]
    [InlineData("""{"response_format":"json"}""", "response_format", "must be an object")]
    [InlineData("""{"grammar":"root ::= \"a"}""", "grammar", "line 1, column")]
    [InlineData("""{"grammar":"root ::= root \"a\""}""", "grammar", "left-recursive")]
    [InlineData("""{"grammar":42}""", "grammar", "a string of GBNF")]
    [InlineData("""{"json_schema":{"type":"integer","multipleOf":2}}""", "json_schema", "keyword 'multipleOf'")]
    [InlineData("""{"json_schema":{"type":"string"},"grammar":"root ::= \"a\""}""", "grammar", "only one of")]
    public async Task Bad_structured_output_requests_are_400s_naming_the_parameter(string fields, string param, string what)
    {
        string body = fields[..^1] + ""","messages":[{"role":"user","content":"hi"}]}""";
        var (status, json, _) = await fixture.PostAsync("/v1/chat/completions", body);
        Assert.Equal(400, status);
        var error = json.GetProperty("error");
        Assert.True(param == error.GetProperty("param").GetString(), error.ToString());
        Assert.Contains(what, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_hostile_grammar_is_refused_before_generation()
    {
        string rules = string.Join("\\n", Enumerable.Range(0, 40).Select(i => $"r{i} ::= r{i + 1} | r{i + 1}")) + "\\nr40 ::= \\\"a\\\"";
        var (status, json, _) = await fixture.PostAsync("/v1/completions", $$"""{"prompt":"x","grammar":"root ::= r0\n{{rules}}"}""");
        Assert.Equal(400, status);
        Assert.Contains("too ambiguous", json.GetProperty("error").GetProperty("message").GetString());
    }

    /// <summary>The Responses API's text.format: the message's output_text validates, streamed or not.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Responses_text_format_gives_json_that_validates(bool stream)
    {
        for (int i = 0; i < 4; i++)
        {
            string body = """{"input": "Describe a person as JSON.", "temperature": 1, "max_output_tokens": 400, "stream": STREAM, "text": {"format": {"type": "json_schema", "name": "person", "strict": true, "schema": PERSON}}}"""
                .Replace("STREAM", stream ? "true" : "false").Replace("PERSON", Person);
            var (status, response, http) = await fixture.PostAsync("/v1/responses", body);
            Assert.Equal(200, status);
            string text;
            if (stream)
            {
                string sse = await http.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
                var done = sse.Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l[6..]).RootElement)
                    .Single(e => e.GetProperty("type").GetString() == "response.output_text.done");
                text = done.GetProperty("text").GetString()!;
            }
            else
            {
                var message = response.GetProperty("output").EnumerateArray().Single(o => o.GetProperty("type").GetString() == "message");
                text = message.GetProperty("content")[0].GetProperty("text").GetString()!;
            }

            Assert.True(Valid(Person, text), $"{i}: {text}");
        }
    }

    [Fact]
    public void Responses_text_format_reads_the_flattened_json_schema_form()
    {
        using var doc = JsonDocument.Parse("""{"type":"json_schema","name":"n","strict":true,"schema":{"type":"object","properties":{"a":{"enum":[1,2]}},"required":["a"]}}""");
        var grammar = StructuredOutput.TextFormat(doc.RootElement, "text.format")!;
        Assert.True(GrammarMatcher.Matches(grammar, """{"a":2}"""));
        Assert.False(GrammarMatcher.Matches(grammar, """{"a":3}"""));
        Assert.Null(StructuredOutput.TextFormat(JsonDocument.Parse("""{"type":"text"}""").RootElement, "text.format"));
        Assert.True(GrammarMatcher.Matches(StructuredOutput.TextFormat(JsonDocument.Parse("""{"type":"json_object"}""").RootElement, "text.format")!, "{}"));
        var e = Assert.Throws<ApiException>(() => StructuredOutput.TextFormat(JsonDocument.Parse("""{"type":"json_schema","schema":{"not":{}}}""").RootElement, "text.format"));
        Assert.Equal("text.format.schema", e.Param);
        Assert.Contains("keyword 'not'", e.Message);
    }
}
