using System.Text.Json;

namespace Tern.Cli.Tests;

public sealed class BenchCommandTests
{
    [Fact]
    public void Prints_a_pp_and_a_tg_row_with_speeds()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "32", "-n", "8", "-r", "2", "-t", "1");
        Assert.True(code == 0, stderr);
        Assert.Matches(@"\| stories260K \| F32 \| 1 \| pp32 \| [\d.]+ ± [\d.]+ \|", stdout);
        Assert.Matches(@"\| stories260K \| F32 \| 1 \| tg8 \| [\d.]+ ± [\d.]+ \|", stdout);
    }

    [Fact]
    public void Json_output_carries_llama_bench_fields_for_every_depth()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "16", "-n", "4", "-d", "0,40", "-r", "2", "-t", "1", "-o", "json");
        Assert.True(code == 0, stderr);
        var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(["pp16", "tg4", "pp16 @ d40", "tg4 @ d40"], rows.Select(r => r.GetProperty("test").GetString()));
        foreach (var r in rows)
        {
            foreach (string field in new[] { "model_filename", "model_type", "n_threads", "type_k", "type_v", "n_prompt", "n_gen", "n_depth", "avg_ts", "stddev_ts", "samples_ts" })
                Assert.True(r.TryGetProperty(field, out _), field);
            Assert.Equal(2, r.GetProperty("samples_ts").GetArrayLength());
            Assert.True(r.GetProperty("avg_ts").GetDouble() > 0);
        }

        Assert.Equal(40, rows[3].GetProperty("n_depth").GetInt32());
    }

    [Fact]
    public void Csv_and_jsonl_have_one_line_per_test()
    {
        var csv = CliRunner.Run("bench", "-p", "8", "-n", "2", "-r", "1", "-t", "1", "-o", "csv").Stdout.Trim().Split('\n');
        Assert.StartsWith("model_filename,", csv[0]);
        Assert.Equal(3, csv.Length);
        var jsonl = CliRunner.Run("bench", "-p", "8", "-n", "2", "-r", "1", "-t", "1", "-o", "jsonl").Stdout.Trim().Split('\n');
        Assert.Equal(2, jsonl.Length);
        Assert.All(jsonl, line => JsonDocument.Parse(line));
    }

    [Fact]
    public void Parallel_sequences_report_aggregate_and_per_sequence_speed()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "0", "-n", "4", "-np", "1,3", "-d", "20", "-r", "1", "-t", "1", "-o", "json");
        Assert.True(code == 0, stderr);
        var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(["tg4 @ d20", "tg4 @ d20 x3"], rows.Select(r => r.GetProperty("test").GetString()));
        var three = rows[1];
        Assert.Equal(3, three.GetProperty("n_parallel").GetInt32());
        Assert.Equal(three.GetProperty("aggregate_ts").GetDouble() / 3, three.GetProperty("avg_ts").GetDouble(), 2);
    }

    [Theory]
    [InlineData("-np", "0", "--parallel")]
    [InlineData("-r", "0", "--repetitions")]
    [InlineData("-d", "x", "--n-depth")]
    [InlineData("-o", "xml", "--output")]
    public void Bad_arguments_are_refused(string flag, string value, string named)
    {
        var (code, _, stderr) = CliRunner.Run("bench", flag, value);
        Assert.Equal(1, code);
        Assert.Contains(named, stderr);
    }
}
