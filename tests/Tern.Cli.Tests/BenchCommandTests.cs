using System.Text.Json;
using Tern.Models;

namespace Tern.Cli.Tests;

public sealed class BenchCommandTests
{
    private static readonly string TinyLlama = SharedData.Path("models/llama-tiny-f32.gguf");

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
        // The fill is prompt processing of the depth, timed once and reported.
        Assert.Matches(@"filled d40 \(f16/f16 KV\): pp40 in [\d.]+ s, [\d.]+ t/s", stderr);
    }

    [Fact]
    public void Json_rows_carry_peak_memory_kv_bytes_and_energy()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "16", "-n", "4", "-d", "0,40", "-np", "1,3", "-r", "1", "-t", "1", "-o", "json");
        Assert.True(code == 0, stderr);
        long perToken = BytesPerToken(DefaultModel.Path());
        var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(6, rows.Count);
        foreach (var r in rows)
        {
            Assert.True(r.GetProperty("rss_bytes").GetInt64() > 0);
            int tokens = r.GetProperty("n_prompt").GetInt32() + r.GetProperty("n_gen").GetInt32();
            long expected = (r.GetProperty("n_depth").GetInt32() + tokens * r.GetProperty("n_parallel").GetInt32()) * perToken;
            Assert.Equal(expected, r.GetProperty("kv_bytes").GetInt64());
            Assert.Contains(r.GetProperty("tokens_per_joule").ValueKind, new[] { JsonValueKind.Number, JsonValueKind.Null });
        }

        // tg4 @ d40 x3: the shared depth once, then four tokens for each of three sequences.
        Assert.Equal((40 + 4 * 3) * perToken, rows[5].GetProperty("kv_bytes").GetInt64());
    }

    /// <summary>On the hybrid qwen35moe the KV bytes are the one attention layer's (512 B per token) and the
    /// recurrent state is counted apart, once per sequence (3 DeltaNet layers × (768 + 4,096) floats).</summary>
    [Fact]
    public void A_hybrid_models_rows_count_kv_and_recurrent_bytes_apart()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "-m", SharedData.Path("models/qwen35moe-tiny-q8_0.gguf"), "-p", "16", "-n", "4", "-d", "0,40", "-np", "1,2", "-r", "1", "-t", "1", "-o", "json");
        Assert.True(code == 0, stderr);
        var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(6, rows.Count);
        foreach (var r in rows)
        {
            int tokens = r.GetProperty("n_prompt").GetInt32() + r.GetProperty("n_gen").GetInt32(), parallel = r.GetProperty("n_parallel").GetInt32();
            Assert.Equal((r.GetProperty("n_depth").GetInt32() + tokens * parallel) * 512L, r.GetProperty("kv_bytes").GetInt64());
            Assert.Equal(parallel * 3 * (768 + 4096) * 4L, r.GetProperty("recurrent_bytes").GetInt64());
        }
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
    public void Csv_and_jsonl_carry_peak_memory_kv_bytes_and_energy()
    {
        long perToken = BytesPerToken(DefaultModel.Path());
        var csv = CliRunner.Run("bench", "-p", "8", "-n", "2", "-d", "24", "-r", "1", "-t", "1", "-o", "csv").Stdout.Trim().Split('\n');
        var header = csv[0].Split(',');
        var pp = csv[1].Split(',');
        Assert.Equal(header.Length, pp.Length);
        Assert.True(long.Parse(pp[Array.IndexOf(header, "rss_bytes")]) > 0);
        Assert.Equal((24 + 8) * perToken, long.Parse(pp[Array.IndexOf(header, "kv_bytes")]));
        string perJoule = pp[Array.IndexOf(header, "tokens_per_joule")];
        Assert.True(perJoule.Length == 0 || double.Parse(perJoule) > 0, perJoule);

        var jsonl = CliRunner.Run("bench", "-p", "8", "-n", "2", "-d", "24", "-r", "1", "-t", "1", "-o", "jsonl").Stdout.Trim().Split('\n');
        var tg = JsonDocument.Parse(jsonl[1]).RootElement;
        Assert.True(tg.GetProperty("rss_bytes").GetInt64() > 0);
        Assert.Equal((24 + 2) * perToken, tg.GetProperty("kv_bytes").GetInt64());
        Assert.Contains(tg.GetProperty("tokens_per_joule").ValueKind, new[] { JsonValueKind.Number, JsonValueKind.Null });
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
        // Both fields are printed rounded to 3 decimals, so they agree to within one rounding step.
        double perSequence = three.GetProperty("aggregate_ts").GetDouble() / 3;
        Assert.InRange(three.GetProperty("avg_ts").GetDouble(), perSequence - 0.001, perSequence + 0.001);
    }

    [Fact]
    public void Every_combination_of_cache_types_gets_its_rows()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "-m", TinyLlama, "-p", "8", "-n", "2", "-ctk", "f16,q8_0", "-ctv", "q4_0", "-r", "1", "-t", "1", "-o", "json");
        Assert.True(code == 0, stderr);
        var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(["f16/q4_0 pp8", "f16/q4_0 tg2", "q8_0/q4_0 pp8", "q8_0/q4_0 tg2"],
            rows.Select(r => $"{r.GetProperty("type_k").GetString()}/{r.GetProperty("type_v").GetString()} {r.GetProperty("test").GetString()}"));
        // A q8_0 key row is smaller than an f16 one, so the same tokens take fewer bytes.
        Assert.True(rows[2].GetProperty("kv_bytes").GetInt64() < rows[0].GetProperty("kv_bytes").GetInt64());
    }

    [Fact]
    public void Quantized_cache_types_get_their_own_table_columns()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "-m", TinyLlama, "-p", "8", "-n", "0", "-ctk", "q8_0", "-ctv", "q4_0", "-r", "1", "-t", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("| model | type | threads | type_k | type_v | test | t/s |", stdout);
        Assert.Matches(@"\| llama-tiny-f32 \| F32 \| 1 \| q8_0 \| q4_0 \| pp8 \| [\d.]+ ± [\d.]+ \|", stdout);
    }

    [Fact]
    public void Depth_beyond_the_trained_context_warns_and_runs_anyway()
    {
        // stories260K was trained on 2048 positions; 2048 + 1 go past them.
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "0", "-n", "1", "-d", "2048", "-r", "1", "-t", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("warning: tg1 @ d2048 reaches 2049 positions, beyond the model's trained context of 2048", stderr);
        Assert.Contains("| tg1 @ d2048 |", stdout);
    }

    [Theory]
    [InlineData("-np", "0", "--parallel")]
    [InlineData("-r", "0", "--repetitions")]
    [InlineData("-d", "x", "--n-depth")]
    [InlineData("-o", "xml", "--output")]
    [InlineData("-ctk", "q5_1", "--cache-type-k")]
    [InlineData("-ctv", "f32,x", "--cache-type-v")]
    [InlineData("--plot", "speed.jpg", "--plot")]
    public void Bad_arguments_are_refused(string flag, string value, string named)
    {
        var (code, _, stderr) = CliRunner.Run("bench", flag, value);
        Assert.Equal(1, code);
        Assert.Contains(named, stderr);
    }

    [Theory]
    [InlineData("-ctk", "q5_1", "--cache-type-k")]
    [InlineData("-ctv", "bf16", "--cache-type-v")]
    public void Serve_refuses_an_unknown_kv_cache_type_naming_the_flag(string flag, string value, string named)
    {
        var (code, _, stderr) = CliRunner.Run("serve", flag, value, "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains(named, stderr);
        Assert.Contains("f16, q8_0, q4_0", stderr);
    }

    private static long BytesPerToken(string model)
    {
        using var m = DecoderModel.Load(model);
        using var cache = m.CreateState(32);
        return cache.KvBytesPerToken;
    }
}
