using System.Text;
using System.Text.Json.Nodes;

namespace Tern.Chat.Tests;

/// <summary>
/// Every real chat template in shared/templates (and templates/2026) against what Python's Jinja2 rendered for each
/// conversation (Hugging Face's settings): byte-identical text, or a TemplateException where Jinja2 raised.
/// templates/golden holds the renderings of its cases.json; templates/2026/golden those of the 2026 templates for
/// its cases.json, and of every template, old and new, for its cases-extra.json (whose cases may carry
/// chat_template_kwargs, passed as extra variables).
/// </summary>
public sealed class GoldenTemplateTests
{
    /// <summary>The golden folders, relative to shared/templates.</summary>
    private static readonly string[] Folders = ["golden", "2026/golden"];

    public static TheoryData<string> Goldens(string extension)
    {
        var data = new TheoryData<string>();
        foreach (string folder in Folders)
            foreach (string path in Directory.GetFiles(SharedData.Path($"templates/{folder}"), "*" + extension).Order(StringComparer.Ordinal))
                data.Add($"{folder}/{Path.GetFileNameWithoutExtension(path)}");
        return data;
    }

    public static TheoryData<string> TextGoldens() => Goldens(".txt");

    public static TheoryData<string> ErrorGoldens() => Goldens(".error");

    [Theory]
    [MemberData(nameof(TextGoldens))]
    public void Render_matches_jinja2_byte_for_byte(string golden)
    {
        byte[] expected = File.ReadAllBytes(SharedData.Path($"templates/{golden}.txt"));

        string rendered = RenderGolden(golden);

        Assert.Equal(Encoding.UTF8.GetString(expected), rendered);
        Assert.Equal(expected, Encoding.UTF8.GetBytes(rendered));
    }

    [Theory]
    [MemberData(nameof(ErrorGoldens))]
    public void Render_fails_where_jinja2_raised_with_the_same_message(string golden)
    {
        string expected = File.ReadAllText(SharedData.Path($"templates/{golden}.error")).TrimEnd('\n');

        var error = Assert.Throws<TemplateException>(() => RenderGolden(golden));

        Assert.Equal(expected, error.Reason);
    }

    [Fact]
    public void Every_template_has_a_golden_for_every_case()
    {
        var old = Directory.GetFiles(SharedData.Path("templates"), "*.jinja");
        var new2026 = Directory.GetFiles(SharedData.Path("templates/2026"), "*.jinja");
        Assert.NotEmpty(new2026);
        AssertGoldens(old, "golden", CaseNames("golden/cases.json"));
        AssertGoldens(old, "2026/golden", CaseNames("2026/golden/cases-extra.json"));
        AssertGoldens(new2026, "2026/golden", [.. CaseNames("2026/golden/cases.json"), .. CaseNames("2026/golden/cases-extra.json")]);
    }

    [Fact]
    public void The_extra_cases_pass_chat_template_kwargs()
    {
        var kwargs = Cases("2026/golden/cases-extra.json")["cases"]!.AsObject()
            .Where(kv => kv.Value!["chat_template_kwargs"] is not null).Select(kv => kv.Key).ToList();

        Assert.Equal(["enable_thinking_false", "enable_thinking_true"], kwargs);
        Assert.NotEqual(RenderGolden("2026/golden/Qwen-Qwen3.5-4B.enable_thinking_false"), RenderGolden("2026/golden/Qwen-Qwen3.5-4B.enable_thinking_true"));
    }

    private static void AssertGoldens(IEnumerable<string> templates, string folder, List<string> caseNames)
    {
        Assert.NotEmpty(caseNames);
        foreach (string template in templates)
        {
            string name = Path.GetFileNameWithoutExtension(template);
            foreach (string caseName in caseNames)
            {
                string stem = SharedData.Path($"templates/{folder}/{name}.{caseName}");
                Assert.True(File.Exists(stem + ".txt") || File.Exists(stem + ".error"), $"no golden for {folder}/{name}.{caseName}");
            }
        }
    }

    private static List<string> CaseNames(string file) => [.. Cases(file)["cases"]!.AsObject().Select(kv => kv.Key)];

    private static JsonObject Cases(string file) => JsonNode.Parse(File.ReadAllText(SharedData.Path($"templates/{file}")))!.AsObject();

    /// <summary>Renders a golden (<c>FOLDER/TEMPLATE.CASE</c>): its case from the folder's cases.json or cases-extra.json, its template beside the folder or in templates/.</summary>
    private static string RenderGolden(string golden)
    {
        string folder = Path.GetDirectoryName(golden)!, stem = Path.GetFileName(golden);
        int dot = stem.LastIndexOf('.');
        string templateName = stem[..dot], caseName = stem[(dot + 1)..];
        var settings = new[] { "cases.json", "cases-extra.json" }
            .Where(f => File.Exists(SharedData.Path($"templates/{folder}/{f}")))
            .Select(f => Cases($"{folder}/{f}"))
            .Single(c => c["cases"]![caseName] is not null);
        var testCase = settings["cases"]![caseName]!.AsObject();
        string templateDir = Path.GetDirectoryName(folder) is { Length: > 0 } parent ? $"templates/{parent}" : "templates";
        string templatePath = File.Exists(SharedData.Path($"{templateDir}/{templateName}.jinja"))
            ? SharedData.Path($"{templateDir}/{templateName}.jinja")
            : SharedData.Path($"templates/{templateName}.jinja");
        var template = ChatTemplate.Parse(File.ReadAllText(templatePath));
        return template.Render(new ChatTemplateInput
        {
            Messages = testCase["messages"]!.DeepClone().AsArray(),
            Tools = testCase["tools"]?.DeepClone().AsArray(),
            AddGenerationPrompt = settings["add_generation_prompt"]!.GetValue<bool>(),
            BosToken = settings["bos_token"]!.GetValue<string>(),
            EosToken = settings["eos_token"]!.GetValue<string>(),
            Variables = testCase["chat_template_kwargs"]?.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone()),
            Clock = FixedClock.Golden,
        });
    }
}
