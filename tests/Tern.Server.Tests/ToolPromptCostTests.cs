using System.Text.Json.Nodes;
using Tern.Gguf;
using Tern.Tokenizers;
using Tern.Tools;

namespace Tern.Server.Tests;

/// <summary>
/// What the built-in tools cost in every prompt that carries them, measured with the real Qwen3 vocabulary and chat
/// template (as GET /props measures it for the loaded model).
/// </summary>
public sealed class ToolPromptCostTests
{
    /// <summary>
    /// Measured: the six tools cost 1,099 tokens, with file_glob_search and get_info 1,331; after the descriptions were
    /// shortened the eight cost 971. The bound keeps longer descriptions from creeping back in.
    /// </summary>
    private const int Bound = 1100;

    [Fact]
    public async Task All_built_in_tools_cost_less_than_the_recorded_bound_with_qwen3()
    {
        using var temp = new TempDirectory();
        await using var tools = ToolSet.Create("all", new ToolSetOptions { WorkspaceRoot = temp.FullPath });

        int cost = await Qwen3().ToolTokensAsync(JsonNode.Parse(tools.SchemasJson)!.AsArray(), TestContext.Current.CancellationToken);

        Assert.InRange(cost, 500, Bound);
    }

    [Fact]
    public async Task The_cost_is_what_the_tools_add_to_a_prompt()
    {
        var template = Qwen3();
        var time = new JsonArray(JsonNode.Parse(new TimeTool().Schema.GetRawText()));
        var both = new JsonArray(JsonNode.Parse(new TimeTool().Schema.GetRawText()), JsonNode.Parse(new TimeTool().Schema.GetRawText()));
        var ct = TestContext.Current.CancellationToken;

        int one = await template.ToolTokensAsync(time, ct);
        int two = await template.ToolTokensAsync(both, ct);

        Assert.InRange(one, 60, 200); // Qwen3's tool preamble and one small schema
        Assert.InRange(two - one, 20, one - 40); // a second schema adds itself, not the preamble again
    }

    internal static PromptTemplate Qwen3()
    {
        using var file = GgufFile.Open(SharedData.Path("tokenizer/ggml-vocab-qwen2.gguf")); // the Qwen3 vocabulary and chat template
        return PromptTemplate.Create(file, Tokenizer.FromGguf(file), null, specialInContent: false, TextWriter.Null);
    }
}
