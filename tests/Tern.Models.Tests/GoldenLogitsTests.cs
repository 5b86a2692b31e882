namespace Tern.Models.Tests;

/// <summary>Tern against llama.cpp's reference logits in ../shared/golden (bars from ../shared/README.md).</summary>
public sealed class GoldenLogitsTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases() => new(GoldenCase.Names());

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prompt_tokenizes_to_the_reference_tokens(string name)
    {
        var result = GoldenCase.Run(name);
        Assert.Equal(result.Case.Tokens, result.Tokens);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_agree_with_llama_cpp(string name)
    {
        var result = GoldenCase.Run(name);
        double kl = result.MeanKl, top1 = result.Top1Agreement;
        output.WriteLine($"{name}: mean KL {kl:E2}, top-1 {top1:P1}");
        Assert.True(kl < 1e-2, $"{name}: mean KL {kl:E2} ≥ 1e-2");
        Assert.True(top1 >= 0.9, $"{name}: top-1 agreement {top1:P1} < 90 %");
    }

    [Fact]
    public void Mean_KL_over_all_cases_is_below_2e_3()
    {
        var results = GoldenCase.Names().Select(GoldenCase.Run).ToList();
        foreach (var r in results.OrderByDescending(r => r.MeanKl).Take(5))
            output.WriteLine($"{r.Case.Name}: {r.MeanKl:E2}");
        double mean = results.Average(r => r.MeanKl);
        output.WriteLine($"overall mean KL {mean:E2} over {results.Count} cases");
        Assert.True(mean < 2e-3, $"overall mean KL {mean:E2} ≥ 2e-3");
    }
}
