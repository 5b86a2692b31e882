using System.Text.Json.Nodes;
using Tern.Gguf;

namespace Tern.Chat.Tests;

/// <summary>The public surface: ChatML default, templates from GGUF metadata, inputs and thread safety.</summary>
public sealed class ChatTemplateApiTests
{
    private static ChatTemplate Template(string name) =>
        ChatTemplate.Parse(File.ReadAllText(SharedData.Path($"templates/{name}.jinja")));

    [Fact]
    public void ChatMl_renders_turns_text_parts_and_the_generation_prompt()
    {
        var messages = new JsonArray
        {
            new ChatMessage("system", "Be brief.").ToJson(),
            new JsonObject { ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "Hi " }, new JsonObject { ["type"] = "text", ["text"] = "there" }) },
            new ChatMessage("assistant", null).ToJson(),
        };

        string text = ChatTemplate.Parse(ChatTemplate.ChatMl).Render(new ChatTemplateInput { Messages = messages }, cancellation: TestContext.Current.CancellationToken);

        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void FromGguf_reads_tokenizer_chat_template()
    {
        using var vocab = GgufFile.Open(SharedData.Path("tokenizer/ggml-vocab-qwen2.gguf"));

        var template = ChatTemplate.FromGguf(vocab);

        Assert.NotNull(template);
        string text = template.Render(new ChatTemplateInput { Messages = ChatMessage.ToJsonArray([new ChatMessage("user", "Hello!")]) }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal("<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void FromGguf_returns_null_when_the_file_has_no_template()
    {
        using var model = GgufFile.Open(SharedData.Path("models/llama-tiny-f32.gguf"));

        Assert.Null(ChatTemplate.FromGguf(model));
        Assert.Null(ChatTemplate.SourceFromGguf(model, "tool_use"));
    }

    [Fact]
    public void Extra_variables_reach_the_template()
    {
        var input = new ChatTemplateInput
        {
            Messages = ChatMessage.ToJsonArray([new ChatMessage("user", "Hi")]),
            Variables = new Dictionary<string, JsonNode?> { ["enable_thinking"] = JsonValue.Create(false) },
        };

        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", Template("Qwen-Qwen3").Render(input, cancellation: TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public void Tools_are_none_when_absent_and_a_list_when_given()
    {
        var template = ChatTemplate.Parse("{{ tools is none }} {{ tools|length if tools is not none else '-' }}");

        Assert.Equal("True -", template.Render(new ChatTemplateInput(), cancellation: TestContext.Current.CancellationToken));
        Assert.Equal("False 1", template.Render(new ChatTemplateInput { Tools = [new JsonObject { ["type"] = "function" }] }, cancellation: TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Clr_backed_json_values_convert_with_python_types()
    {
        var template = ChatTemplate.Parse("{{ a }} {{ b }} {{ c }} {{ d }} {{ e }}");
        var variables = new Dictionary<string, JsonNode?>
        {
            ["a"] = JsonValue.Create(1),
            ["b"] = JsonValue.Create(1.0),
            ["c"] = JsonValue.Create(true),
            ["d"] = JsonValue.Create("s"),
            ["e"] = null,
        };

        Assert.Equal("1 1.0 True s None", template.Render(new ChatTemplateInput { Variables = variables }, cancellation: TestContext.Current.CancellationToken));
    }

    [Fact]
    public void ChatMessage_writes_only_the_fields_that_are_set()
    {
        var call = new JsonArray(new JsonObject { ["id"] = "c1", ["type"] = "function", ["function"] = new JsonObject { ["name"] = "f", ["arguments"] = new JsonObject { ["x"] = 1 } } });
        var message = new ChatMessage("assistant", null) { ToolCalls = call };

        Assert.Equal("""{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{"x":1}}}]}""",
            message.ToJson().ToJsonString());
    }

    [Fact]
    public void Tool_calls_render_with_arguments_as_json_objects()
    {
        var messages = ChatMessage.ToJsonArray([
            new ChatMessage("user", "Weather?"),
            new ChatMessage("assistant", "") { ToolCalls = [new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_weather", ["arguments"] = new JsonObject { ["city"] = "Paris" } } }] },
        ]);

        string text = Template("Qwen-Qwen2.5-7B-Instruct").Render(new ChatTemplateInput { Messages = messages, AddGenerationPrompt = false }, cancellation: TestContext.Current.CancellationToken);

        Assert.Contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_conversation_renders_every_turn()
    {
        var messages = ChatMessage.ToJsonArray(Enumerable.Range(0, 2000).Select(i => new ChatMessage(i % 2 == 0 ? "user" : "assistant", $"turn {i}")));

        string text = Template("Qwen-Qwen3").Render(new ChatTemplateInput { Messages = messages }, cancellation: TestContext.Current.CancellationToken);

        Assert.Equal(2001, text.Split("<|im_start|>").Length - 1);
        Assert.Contains("turn 1999<|im_end|>", text, StringComparison.Ordinal);
    }

    [Fact]
    public void One_template_renders_concurrently()
    {
        var template = Template("meta-llama-Llama-3.1-8B-Instruct");
        string Render(int i) => template.Render(new ChatTemplateInput { Messages = ChatMessage.ToJsonArray([new ChatMessage("user", $"q{i}")]) });

        var results = new string[16];
        Parallel.For(0, results.Length, i => results[i] = Render(i));

        Assert.All(Enumerable.Range(0, results.Length), i => Assert.Equal(Render(i), results[i]));
    }
}
