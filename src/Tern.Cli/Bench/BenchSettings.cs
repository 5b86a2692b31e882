using Tern.Gguf;

namespace Tern.Cli.Bench;

/// <summary>What one `tern bench` measures, as parsed from its flags.</summary>
internal sealed record BenchSettings
{
    public string? Model { get; init; }
    public int[] Prompts { get; init; } = [512];
    public int[] Generates { get; init; } = [128];
    public int[] Depths { get; init; } = [0];
    public int[] Parallels { get; init; } = [1];
    public GgmlType[] KeyTypes { get; init; } = [GgmlType.F16];
    public GgmlType[] ValueTypes { get; init; } = [GgmlType.F16];
    public int Repetitions { get; init; } = 3;
    public int Threads { get; init; }
    public string Format { get; init; } = "md";
    public string? PlotPath { get; init; }
    public string? ComparePath { get; init; }
    public bool ShowProgress { get; init; }

    /// <summary>Measure the machine's read bandwidth first and report each tg test's share of it.</summary>
    public bool MeasureBandwidth { get; init; }

    /// <summary>Instead of pp/tg: time to first token of a -p-token conversation resumed from the disk prefix cache
    /// after a restart, against processing it again (--disk-resume).</summary>
    public bool DiskResume { get; init; }

    /// <summary>Run matrices from their type's repacked layout (off: --no-repack).</summary>
    public bool Repack { get; init; } = true;

    /// <summary>Where the RAPL energy counters live (a test points it elsewhere).</summary>
    public string PowercapRoot { get; init; } = EnergyMeter.DefaultRoot;

    /// <exception cref="ArgumentException">A value out of range; the message names its flag.</exception>
    public void Validate()
    {
        if (Parallels.Any(n => n < 1))
            throw new ArgumentException("--parallel must list sequence counts of 1 or more");
        if (Repetitions < 1 || Threads < 0)
            throw new ArgumentException("--repetitions must be at least 1 and --threads 0 or more");
        if (!BenchOutput.Formats.Contains(Format))
            throw new ArgumentException($"--output must be md, csv, json or jsonl, not '{Format}'");
    }

    /// <summary>Every test in run order: per cache type pair (as llama-bench, every combination) and depth, the pp
    /// tests, then the tg tests for each parallelism.</summary>
    public List<BenchTest> Plan()
    {
        var plan = new List<BenchTest>();
        foreach (var k in KeyTypes)
        {
            foreach (var v in ValueTypes)
            {
                foreach (int d in Depths)
                {
                    plan.AddRange(Prompts.Where(p => p > 0).Select(p => new BenchTest(k, v, d, p, 0, 1)));
                    foreach (int np in Parallels)
                        plan.AddRange(Generates.Where(n => n > 0).Select(n => new BenchTest(k, v, d, 0, n, np)));
                }
            }
        }

        return plan;
    }
}
