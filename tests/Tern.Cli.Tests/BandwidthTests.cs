using System.Text.Json;
using Tern.Cli.Bench;
using Tern.Gguf;
using Tern.Models;

namespace Tern.Cli.Tests;

/// <summary>`tern bench --bandwidth`: the machine's read bandwidth, and each tg test's bytes per step and share of it.</summary>
public sealed class BandwidthTests
{
    [Fact]
    public void The_bandwidth_buffer_leaves_the_peak_memory_mark_once_reset()
    {
        // `tern bench --bandwidth` measures before loading the model, then resets the mark: rss_bytes is the model's.
        Assert.True(OperatingSystem.IsLinux(), "CI runs on Linux, where VmHWM can be reset");
        Bandwidth.MeasureReadGBps(2, 256L << 20);
        long withBuffer = ResidentMemory.PeakBytes();
        Assert.True(ResidentMemory.ResetPeak());
        long after = ResidentMemory.PeakBytes();
        Assert.True(after <= withBuffer - (200L << 20), $"peak {withBuffer >> 20} MiB with the 256 MiB buffer, {after >> 20} MiB after the reset");
    }

    [Fact]
    public void Read_bandwidth_is_a_positive_finite_rate()
    {
        double gbps = Bandwidth.MeasureReadGBps(2, 16L << 20);
        Assert.True(gbps > 0.1 && double.IsFinite(gbps), $"{gbps} GB/s");
        Assert.Throws<ArgumentOutOfRangeException>(() => Bandwidth.MeasureReadGBps(0));
    }

    [Fact]
    public void A_dense_step_reads_every_tensor_but_an_untied_embedding_table()
    {
        using var m = DecoderModel.Load(SharedData.Path("models/llama-tiny-q8_0.gguf"), new ModelOptions { Threads = 1 });
        long all = m.File.Tensors.Sum(t => t.ByteCount);
        long expected = m.File.TryGetTensor("output.weight", out _) ? all - m.File.GetTensor("token_embd.weight").ByteCount : all;
        Assert.Equal(expected, Bandwidth.WeightBytesPerToken(m));
    }

    [Fact]
    public void A_mixture_of_experts_step_reads_only_the_routed_experts()
    {
        using var m = DecoderModel.Load(SharedData.Path("models/llama-moe-tiny-q8_0.gguf"), new ModelOptions { Threads = 1 });
        var experts = m.File.Tensors.Where(t => t.Name.Contains("_exps.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(experts);
        Assert.True(m.Config.ExpertUsedCount < m.Config.ExpertCount);
        long dense = m.File.Tensors.Except(experts).Where(t => t.Name != "token_embd.weight" || !m.File.TryGetTensor("output.weight", out _)).Sum(t => t.ByteCount);
        long routed = experts.Sum(t => t.ByteCount) / m.Config.ExpertCount * m.Config.ExpertUsedCount;
        Assert.Equal(dense + routed, Bandwidth.WeightBytesPerToken(m));
    }

    [Fact]
    public void With_the_flag_tg_rows_report_effective_GBps_and_their_share_of_the_measured_bandwidth()
    {
        var settings = new BenchSettings { Prompts = [8], Generates = [4], Depths = [0, 32], Repetitions = 1, Threads = 1, Format = "json", MeasureBandwidth = true };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, BenchCommand.Run(settings, stdout, stderr, CancellationToken.None));
        Assert.Contains("read bandwidth: ", stderr.ToString());

        var rows = JsonDocument.Parse(stdout.ToString()).RootElement.EnumerateArray().ToList();
        Assert.Equal(4, rows.Count);
        foreach (var row in rows)
        {
            bool tg = row.GetProperty("n_gen").GetInt32() > 0;
            double read = row.GetProperty("read_gbps").GetDouble();
            Assert.True(read > 0);
            if (!tg)
            {
                Assert.Equal(JsonValueKind.Null, row.GetProperty("effective_gbps").ValueKind);
                Assert.Equal(JsonValueKind.Null, row.GetProperty("bandwidth_share").ValueKind);
                continue;
            }

            long step = row.GetProperty("step_bytes").GetInt64();
            double effective = row.GetProperty("effective_gbps").GetDouble();
            Assert.Equal(step * row.GetProperty("avg_ts").GetDouble() / 1e9, effective, 0.01);
            // Both GB/s figures are rounded to 2 decimals, the share to 3: the ratio is known to within their rounding.
            double share = row.GetProperty("bandwidth_share").GetDouble();
            Assert.Equal(effective / read, share, share * (0.005 / effective + 0.005 / read) + 0.0005);
        }

        // Deeper tests read their KV cache too: more bytes per step.
        var tgSteps = rows.Where(r => r.GetProperty("n_gen").GetInt32() > 0).Select(r => r.GetProperty("step_bytes").GetInt64()).ToList();
        Assert.True(tgSteps[1] > tgSteps[0], $"step bytes at depth 0 and 32: {tgSteps[0]}, {tgSteps[1]}");
    }

    [Fact]
    public void Without_the_flag_nothing_is_measured_and_the_table_has_no_bandwidth_columns()
    {
        var settings = new BenchSettings { Prompts = [0], Generates = [2], Repetitions = 1, Threads = 1, Format = "md" };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, BenchCommand.Run(settings, stdout, stderr, CancellationToken.None));
        Assert.DoesNotContain("read bandwidth", stderr.ToString());
        Assert.DoesNotContain("GB/s", stdout.ToString());

        stdout = new StringWriter();
        Assert.Equal(0, BenchCommand.Run(settings with { MeasureBandwidth = true }, stdout, new StringWriter(), CancellationToken.None));
        var table = stdout.ToString().Split('\n');
        Assert.EndsWith("| t/s | GB/s | share |", table[0].Trim());
        Assert.Matches(@"\| tg2 \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ \| [0-9]+ ?% \|$", table[2].Trim());
    }
}
