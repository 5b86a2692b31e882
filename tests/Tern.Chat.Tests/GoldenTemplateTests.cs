using System.Text;
using System.Text.Json.Nodes;

namespace Tern.Chat.Tests;

/// <summary>
/// Every real chat template in shared/templates against what Python's Jinja2 rendered for each conversation of
/// cases.json (Hugging Face's settings): byte-identical text, or a TemplateException where Jinja2 raised.
/// </summary>
public sealed class GoldenTemplateTests
{
    private static readonly Lazy<JsonObject> Cases = new(() =>
        JsonNode.Parse(File.ReadAllText(SharedData.Path("templates/golden/cases.json")))!.AsObject());

    public static TheoryData<string> Goldens(string extension)
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.GetFiles(SharedData.Path("templates/golden"), "*" + extension).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileNameWithoutExtension(path));
        return data;
    }

    public static TheoryData<string> TextGoldens() => Goldens(".txt");

    public static TheoryData<string> ErrorGoldens() => Goldens(".error");

    [Theory]
    [MemberData(nameof(TextGoldens))]
    public void Render_matches_jinja2_byte_for_byte(string golden)
    {
        byte[] expected = File.ReadAllBytes(SharedData.Path($"templates/golden/{golden}.txt"));

        string rendered = RenderGolden(golden);

        Assert.Equal(Encoding.UTF8.GetString(expected), rendered);
        Assert.Equal(expected, Encoding.UTF8.GetBytes(rendered));
    }

    [Theory]
    [MemberData(nameof(ErrorGoldens))]
    public void Render_fails_where_jinja2_raised_with_the_same_message(string golden)
    {
        string expected = File.ReadAllText(SharedData.Path($"templates/golden/{golden}.error")).TrimEnd('\n');

        var error = Assert.Throws<TemplateException>(() => RenderGolden(golden));

        Assert.Equal(expected, error.Reason);
    }

    [Fact]
    public void Every_template_has_a_golden_for_every_case()
    {
        var caseNames = Cases.Value["cases"]!.AsObject().Select(kv => kv.Key).ToList();
        foreach (string template in Directory.GetFiles(SharedData.Path("templates"), "*.jinja"))
        {
            string name = Path.GetFileNameWithoutExtension(template);
            foreach (string caseName in caseNames)
            {
                string stem = SharedData.Path($"templates/golden/{name}.{caseName}");
                Assert.True(File.Exists(stem + ".txt") || File.Exists(stem + ".error"), $"no golden for {name}.{caseName}");
            }
        }
    }

    private static string RenderGolden(string golden)
    {
        int dot = golden.LastIndexOf('.');
        string templateName = golden[..dot], caseName = golden[(dot + 1)..];
        var settings = Cases.Value;
        var testCase = settings["cases"]![caseName]!.AsObject();
        var template = ChatTemplate.Parse(File.ReadAllText(SharedData.Path($"templates/{templateName}.jinja")));
        return template.Render(new ChatTemplateInput
        {
            Messages = testCase["messages"]!.DeepClone().AsArray(),
            Tools = testCase["tools"]?.DeepClone().AsArray(),
            AddGenerationPrompt = settings["add_generation_prompt"]!.GetValue<bool>(),
            BosToken = settings["bos_token"]!.GetValue<string>(),
            EosToken = settings["eos_token"]!.GetValue<string>(),
            Clock = FixedClock.Golden,
        });
    }
}
