using Tern.Chat.ToolCalls;

namespace Tern.Chat.Tests;

public sealed class ToolCallFormatTests
{
    private static readonly Dictionary<string, ToolCallFormat> Expected = new()
    {
        ["CohereForAI-c4ai-command-r-plus-tool_use"] = ToolCallFormat.Generic,
        ["CohereForAI-c4ai-command-r7b-12-2024-tool_use"] = ToolCallFormat.Generic,
        ["NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use"] = ToolCallFormat.Hermes,
        ["NousResearch-Hermes-3-Llama-3.1-8B-tool_use"] = ToolCallFormat.Hermes,
        ["Qwen-Qwen2.5-7B-Instruct"] = ToolCallFormat.Hermes,
        ["Qwen-Qwen3"] = ToolCallFormat.Hermes,
        ["deepseek-ai-DeepSeek-R1-Distill-Llama-8B"] = ToolCallFormat.Generic,
        ["deepseek-ai-DeepSeek-R1-Distill-Qwen-32B"] = ToolCallFormat.Generic,
        ["fireworks-ai-llama-3-firefunction-v2"] = ToolCallFormat.Generic,
        ["google-gemma-2-2b-it"] = ToolCallFormat.Generic,
        ["llama-cpp-deepseek-r1"] = ToolCallFormat.Generic,
        ["meetkai-functionary-medium-v3.1"] = ToolCallFormat.Generic, // Llama 3.1 based, but its own <function=...> calls
        ["meetkai-functionary-medium-v3.2"] = ToolCallFormat.Generic,
        ["meta-llama-Llama-3.1-8B-Instruct"] = ToolCallFormat.Llama3,
        ["meta-llama-Llama-3.2-3B-Instruct"] = ToolCallFormat.Llama3,
        ["meta-llama-Llama-3.3-70B-Instruct"] = ToolCallFormat.Llama3,
        ["microsoft-Phi-3.5-mini-instruct"] = ToolCallFormat.Generic,
        ["mistralai-Mistral-Nemo-Instruct-2407"] = ToolCallFormat.Mistral,
    };

    public static TheoryData<string> Templates()
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.GetFiles(SharedData.Path("templates"), "*.jinja").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileNameWithoutExtension(path));
        return data;
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public void Format_is_detected_from_the_shared_template(string template)
    {
        Assert.True(Expected.TryGetValue(template, out var expected), $"add the expected tool-call format of {template} to this test");
        string source = File.ReadAllText(SharedData.Path($"templates/{template}.jinja"));

        Assert.Equal(expected, ToolCallFormats.Detect(source));
        Assert.Equal(expected, ToolCallFormats.Detect(ChatTemplate.Parse(source)));
    }

    [Fact]
    public void Every_expected_template_exists()
    {
        foreach (string template in Expected.Keys)
            Assert.True(File.Exists(SharedData.Path($"templates/{template}.jinja")), template);
    }

    [Theory]
    [InlineData("Qwen-Qwen3.5-4B", ToolCallFormat.QwenXml)]
    [InlineData("Qwen-Qwen3-Coder", ToolCallFormat.QwenXml)]
    [InlineData("google-gemma-4-31B-it", ToolCallFormat.Gemma4)]
    [InlineData("google-gemma-4-31B-it-original", ToolCallFormat.Gemma4)]
    [InlineData("google-gemma-3-it", ToolCallFormat.Generic)]
    public void Format_is_detected_from_the_2026_template(string template, ToolCallFormat expected)
    {
        string source = File.ReadAllText(SharedData.Path($"templates/2026/{template}.jinja"));

        Assert.Equal(expected, ToolCallFormats.Detect(source));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(ChatTemplate.ChatMl)]
    public void Templates_without_tool_markup_use_the_generic_format(string? source)
    {
        Assert.Equal(ToolCallFormat.Generic, ToolCallFormats.Detect(source));
    }

    [Theory]
    [InlineData(ToolCallFormat.Generic)]
    [InlineData(ToolCallFormat.Hermes)]
    [InlineData(ToolCallFormat.Llama3)]
    [InlineData(ToolCallFormat.Mistral)]
    [InlineData(ToolCallFormat.QwenXml)]
    [InlineData(ToolCallFormat.Gemma4)]
    public void Create_makes_a_parser_of_the_format(ToolCallFormat format)
    {
        Assert.Equal(format, ToolCallParser.Create(format).Format);
    }

    [Fact]
    public void Create_rejects_an_unknown_format()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ToolCallParser.Create((ToolCallFormat)99));
    }

    [Fact]
    public void Tool_call_json_has_the_openai_shape()
    {
        var call = new ToolCall("call_1", "get_weather", "{\"city\": \"Zürich\"}");

        var json = call.ToJson();

        Assert.Equal("call_1", json["id"]!.GetValue<string>());
        Assert.Equal("function", json["type"]!.GetValue<string>());
        Assert.Equal("get_weather", json["function"]!["name"]!.GetValue<string>());
        Assert.Equal(call.Arguments, json["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal("Zürich", call.ToJson(argumentsAsObject: true)["function"]!["arguments"]!["city"]!.GetValue<string>());
    }
}
