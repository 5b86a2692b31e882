using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tern.Cli.Tests;

public sealed class BenchCompareTests
{
    // llama-bench rows as llama.cpp writes them: pp16 matches (after a q8_0 row that must not), tg4 was run with
    // other threads, pp64 is not among Tern's tests.
    private static readonly string[] OtherRows =
    [
        """{"n_prompt": 16, "n_gen": 0, "n_depth": 0, "n_threads": 1, "type_k": "q8_0", "type_v": "f16", "avg_ts": 1.0}""",
        """{"n_prompt": 16, "n_gen": 0, "n_depth": 0, "n_threads": 1, "type_k": "f16", "type_v": "f16", "avg_ts": 250.0}""",
        """{"n_prompt": 0, "n_gen": 4, "n_depth": 0, "n_threads": 2, "type_k": "f16", "type_v": "f16", "avg_ts": 50.0}""",
        """{"n_prompt": 64, "n_gen": 0, "n_threads": 1, "avg_ts": 10.0}""",
    ];

    [Fact]
    public void Markdown_gets_a_table_of_ratios_with_dashes_for_unmatched_tests()
    {
        using var dir = new TempDirectory();
        string other = dir.Write("llama.json", Encoding.UTF8.GetBytes("[" + string.Join(",\n", OtherRows) + "]"));
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "16", "-n", "4", "-r", "1", "-t", "1", "--compare", other);
        Assert.True(code == 0, stderr);
        Assert.Contains("| test | Tern t/s | other t/s | ratio |", stdout);
        var pp = Regex.Match(stdout, @"\| pp16 \| ([\d.]+) \| 250\.00 \| ([\d.]+) \|");
        Assert.True(pp.Success, stdout);
        double tern = double.Parse(pp.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(tern / 250, double.Parse(pp.Groups[2].Value, CultureInfo.InvariantCulture), 0.006);
        Assert.Matches(@"\| tg4 \| [\d.]+ \| – \| – \|", stdout);
    }

    [Fact]
    public void Json_rows_get_compare_ratio_from_json_lines()
    {
        using var dir = new TempDirectory();
        string other = dir.Write("llama.jsonl", Encoding.UTF8.GetBytes(string.Join("\n", OtherRows) + "\n"));
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "16", "-n", "4", "-r", "1", "-t", "1", "-o", "json", "--compare", other);
        Assert.True(code == 0, stderr);
        var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(rows[0].GetProperty("avg_ts").GetDouble() / 250, rows[0].GetProperty("compare_ratio").GetDouble(), 0.002);
        Assert.Equal(JsonValueKind.Null, rows[1].GetProperty("compare_ratio").ValueKind);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("{\"n_prompt\": 16,")]
    [InlineData("[{\"test\": \"pp16\"}]")]
    public void Missing_or_malformed_files_are_errors_naming_the_file(string? content)
    {
        using var dir = new TempDirectory();
        string path = content is null ? dir.File("absent.json") : dir.Write("bad.json", Encoding.UTF8.GetBytes(content));
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "8", "-n", "0", "-r", "1", "--compare", path);
        Assert.Equal(1, code);
        Assert.Contains("--compare", stderr);
        Assert.Contains(path, stderr);
        Assert.Empty(stdout);
    }
}
