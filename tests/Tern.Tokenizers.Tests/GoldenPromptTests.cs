using System.Text.Json;

namespace Tern.Tokenizers.Tests;

/// <summary>The prompts of the golden logits, tokenized by llama.cpp with each model's own vocabulary.</summary>
public sealed class GoldenPromptTests
{
    public static TheoryData<string> GoldenFiles()
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.GetFiles(SharedData.Path("golden"), "*.json").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(path));
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenFiles))]
    public void Encode_with_special_tokens_reproduces_llama_cpp_prompt_tokens(string goldenFile)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(SharedData.Path(Path.Combine("golden", goldenFile))));
        var root = json.RootElement;
        string model = root.GetProperty("model").GetString()!;
        string prompt = root.GetProperty("prompt").GetString()!;
        int[] expected = root.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();

        int[] actual = VocabFixtures.LoadModel(model).Encode(prompt, addSpecial: true);

        Assert.Equal(expected, actual);
    }
}
