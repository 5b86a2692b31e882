using System.Globalization;
using System.Text.Json;
using Tern.Cli.Bench;
using Tern.Models;

namespace Tern.Cli.Tests;

public sealed class BenchRunTests
{
    [Fact]
    public void Cancelling_stops_after_the_current_run_and_prints_the_finished_rows()
    {
        var settings = new BenchSettings { Prompts = [8], Generates = [2], Depths = [0, 16], Repetitions = 2, Threads = 1, Format = "json" };
        using var cancel = new CancellationTokenSource();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BenchCommand.Run(settings, stdout, stderr, cancel.Token, finished: _ => cancel.Cancel());
        Assert.Equal(130, code);
        var rows = JsonDocument.Parse(stdout.ToString()).RootElement.EnumerateArray().ToList();
        Assert.Equal(["pp8"], rows.Select(r => r.GetProperty("test").GetString()));
        Assert.Equal(2, rows[0].GetProperty("samples_ts").GetArrayLength());
        Assert.Contains("interrupted: 1 of 4 tests finished", stderr.ToString());
    }

    [Fact]
    public void Filled_depth_gives_the_logits_of_the_same_tokens_run_as_one_prompt()
    {
        using var m = DecoderModel.Load(SharedData.Path("models/llama-tiny-f32.gguf"), new ModelOptions { Threads = 1 });
        int depth = BenchRuns.FillBatch + 21; // two fill batches, the second one partial
        const int next = 5;
        int vocab = m.Config.VocabSize;
        var batch = new TokenBatch();

        using var filledCache = m.CreateState(depth + 1);
        var filled = BenchRuns.Fill(m, filledCache, depth, TestContext.Current.CancellationToken);
        Assert.Equal(depth, filled.Length);
        batch.Add(next, depth, filled, logits: true);
        var afterFill = new float[vocab];
        m.Forward(batch, filledCache, afterFill);

        using var promptCache = m.CreateState(depth + 1);
        batch.Clear();
        batch.AddRange([.. BenchRuns.RandomTokens(m, depth, BenchRuns.FillSeed), next], 0, promptCache.CreateSequence());
        var asPrompt = new float[vocab];
        m.Forward(batch, promptCache, asPrompt);

        Assert.Equal(asPrompt.Select(BitConverter.SingleToInt32Bits), afterFill.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Unreadable_energy_counters_give_null_and_one_notice()
    {
        using var dir = new TempDirectory();
        var settings = new BenchSettings { Prompts = [8], Generates = [2], Repetitions = 1, Threads = 1, Format = "jsonl", PowercapRoot = dir.File("none") };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, BenchCommand.Run(settings, stdout, stderr, CancellationToken.None));
        var rows = stdout.ToString().Trim().Split('\n').Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal(JsonValueKind.Null, r.GetProperty("tokens_per_joule").ValueKind));
        string notice = "energy counters unavailable (/sys/class/powercap not readable): tokens_per_joule omitted";
        Assert.Single(stderr.ToString().Split('\n'), line => line.Trim() == notice);
    }

    [Fact]
    public void Energy_meter_sums_package_zones_only_and_survives_wraparound()
    {
        using var dir = new TempDirectory();
        const long range = 262_143_328_850;
        Zone(dir, "intel-rapl:0", "package-0", 1_000, range);
        Zone(dir, "intel-rapl:0:0", "core", 500, range); // part of package-0: must not count twice
        Zone(dir, "intel-rapl:1", "package-1", range - 1_000_000, range);
        var meter = EnergyMeter.Open(dir.FullPath);
        Assert.NotNull(meter);
        long[] before = meter.Read();

        Zone(dir, "intel-rapl:0", "package-0", 3_001_000, range); // +3 J
        Zone(dir, "intel-rapl:0:0", "core", 9_000_500, range);
        Zone(dir, "intel-rapl:1", "package-1", 1_000_000, range); // wrapped: +2 J
        Assert.Equal(5.0, meter.JoulesBetween(before, meter.Read()), 1e-9);
    }

    [Fact]
    public void Energy_meter_is_absent_without_package_zones()
    {
        using var dir = new TempDirectory();
        Assert.Null(EnergyMeter.Open(dir.File("missing")));
        Zone(dir, "intel-rapl:0:0", "core", 500, 1_000_000);
        Assert.Null(EnergyMeter.Open(dir.FullPath));
    }

    [Fact]
    public void Peak_resident_memory_is_at_least_the_current_working_set()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        long now = process.WorkingSet64;
        Assert.True(ResidentMemory.PeakBytes() >= now, "VmHWM is a high-water mark, read in kB and reported in bytes");
    }

    private static void Zone(TempDirectory dir, string zone, string name, long energy, long range)
    {
        string path = Directory.CreateDirectory(dir.File(zone)).FullName;
        File.WriteAllText(Path.Combine(path, "name"), name + "\n");
        File.WriteAllText(Path.Combine(path, "energy_uj"), energy.ToString(CultureInfo.InvariantCulture) + "\n");
        File.WriteAllText(Path.Combine(path, "max_energy_range_uj"), range.ToString(CultureInfo.InvariantCulture) + "\n");
    }
}
