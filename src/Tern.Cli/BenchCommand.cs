using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Tern.Cli.Bench;
using Tern.Gguf;
using Tern.Kernels;
using Tern.Models;

namespace Tern.Cli;

/// <summary>
/// `tern bench [-m FILE] [-p N,..] [-n N,..] [-d DEPTH,..] [-np N,..] [-ctk TYPE,..] [-ctv TYPE,..] [-r R] [-t THREADS]
/// [-o md|csv|json|jsonl] [--plot FILE.svg] [--compare FILE.json]`: prompt processing (pp) and generation
/// (tg) speed as llama-bench measures them, optionally with the KV cache already holding DEPTH tokens
/// (`pp512 @ d4096`), for every combination of KV cache key and value types. The depth is filled once per depth
/// and shared, copy-on-write, by every repetition; pp runs N random tokens as one batch, tg generates N tokens one
/// at a time, for -np sequences at once (the table shows their aggregate tokens/s; JSON's avg_ts is per sequence,
/// aggregate_ts all of them).
/// </summary>
public static class BenchCommand
{
    private const string Description = """
        Measure prompt and generation speed, optionally at depth and with quantized KV caches.
        json/jsonl/csv add Tern's own fields: rss_bytes (peak resident memory), kv_bytes (KV cache bytes holding the
        test's tokens; sliding-window layers at most their window), recurrent_bytes (hybrid models' per-sequence
        state), tokens_per_joule (CPU package energy; null when /sys/class/powercap is unreadable).
        --compare FILE reads llama-bench JSON (array or lines) and matches rows by test, threads and cache types:
        md prints a second table (test, Tern t/s, other t/s, ratio = Tern/other, "–" when unmatched); json, jsonl
        and csv get a compare_ratio field instead (null or empty when unmatched).
        Ctrl-C stops after the current run and prints the finished rows (exit code 130).
        """;

    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model)" };
        var prompt = new Option<string>("--n-prompt", "-p") { Description = "prompt tokens for pp tests, comma list (0: skip)", DefaultValueFactory = _ => "512" };
        var generate = new Option<string>("--n-gen", "-n") { Description = "tokens for tg tests, comma list (0: skip)", DefaultValueFactory = _ => "128" };
        var depth = new Option<string>("--n-depth", "-d") { Description = "tokens already in the KV cache, comma list", DefaultValueFactory = _ => "0" };
        var parallel = new Option<string>("--parallel", "-np") { Description = "sequences decoding together in tg tests, comma list", DefaultValueFactory = _ => "1" };
        var typeK = new Option<string>("--cache-type-k", "-ctk") { Description = $"KV cache key types, comma list of {KvCache.TypeNames}", DefaultValueFactory = _ => "f16" };
        var typeV = new Option<string>("--cache-type-v", "-ctv") { Description = $"KV cache value types, comma list of {KvCache.TypeNames}", DefaultValueFactory = _ => "f16" };
        var repetitions = new Option<int>("--repetitions", "-r") { Description = "runs per test", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var output = new Option<string>("--output", "-o") { Description = "md, csv, json or jsonl", DefaultValueFactory = _ => "md" };
        var plot = new Option<string?>("--plot") { Description = "also draw tokens/s against depth into FILE.svg (SVG only: a browser or rsvg-convert turns it into PNG)" };
        var compare = new Option<string?>("--compare") { Description = "compare with another engine's llama-bench JSON results" };
        var bandwidth = new Option<bool>("--bandwidth") { Description = "measure this machine's read bandwidth first; tg rows show their effective GB/s and share of it" };
        var diskResume = new Option<bool>("--disk-resume") { Description = "instead of pp/tg: time to first token of a conversation of -p tokens (+ a 32-token turn) resumed after a restart from the prefix cache's disk tier (--cache-dir), against processing it again" };
        var noRepack = NoRepackOption();
        var hubModel = TernCommand.HubOption();
        var offline = TernCommand.OfflineOption();
        var command = new Command("bench", Description)
        {
            model, prompt, generate, depth, parallel, typeK, typeV, repetitions, threads, output, plot, compare, bandwidth, diskResume, noRepack, hubModel, offline,
        };
        var habits = HabitFlags.AddTo(command);
        command.SetAction(parse =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            habits(parse, stderr);
            var settings = new BenchSettings
            {
                Model = parse.GetValue(hubModel) is null ? parse.GetValue(model) : TernCommand.ResolveModel(parse.GetValue(model), parse.GetValue(hubModel), stderr, parse.GetValue(offline)),
                Prompts = Counts(parse.GetValue(prompt)!, "--n-prompt"),
                Generates = Counts(parse.GetValue(generate)!, "--n-gen"),
                Depths = Counts(parse.GetValue(depth)!, "--n-depth"),
                Parallels = Counts(parse.GetValue(parallel)!, "--parallel"),
                KeyTypes = Types(parse.GetValue(typeK)!, "--cache-type-k"),
                ValueTypes = Types(parse.GetValue(typeV)!, "--cache-type-v"),
                Repetitions = parse.GetValue(repetitions),
                Threads = parse.GetValue(threads),
                Format = parse.GetValue(output)!,
                PlotPath = parse.GetValue(plot),
                ComparePath = parse.GetValue(compare),
                MeasureBandwidth = parse.GetValue(bandwidth),
                DiskResume = parse.GetValue(diskResume),
                Repack = !parse.GetValue(noRepack),
                // A live bar only on a terminal: redirected stderr (a log file, a test) gets plain lines.
                ShowProgress = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected,
            };

            using var interrupt = new CancellationTokenSource();
            void OnCancel(object? sender, ConsoleCancelEventArgs e)
            {
                // The first Ctrl-C finishes the current run and prints what is done; a second one ends the process.
                e.Cancel = !interrupt.IsCancellationRequested;
                interrupt.Cancel();
            }

            Console.CancelKeyPress += OnCancel;
            try
            {
                return Run(settings, stdout, stderr, interrupt.Token);
            }
            finally
            {
                Console.CancelKeyPress -= OnCancel;
            }
        });
        return command;
    }

    /// <summary>
    /// Runs every test of <paramref name="settings"/> and writes the rows. When <paramref name="cancel"/> fires,
    /// stops after the current run and writes only the tests finished so far (exit code 130).
    /// <paramref name="finished"/> sees each row as it completes.
    /// </summary>
    internal static int Run(BenchSettings settings, TextWriter stdout, TextWriter stderr, CancellationToken cancel, Action<BenchRow>? finished = null)
    {
        settings.Validate();
        if (settings.PlotPath is { } plotPath)
            BenchPlot.CheckPath(plotPath);
        var compare = settings.ComparePath is { } comparePath ? BenchCompare.Load(comparePath) : null;

        string path = TernCommand.ResolveModel(settings.Model);
        // The read bandwidth first, its buffer freed and the peak-memory mark reset, so rss_bytes is the model's.
        double? readGBps = settings.MeasureBandwidth ? Bandwidth.MeasureReadGBps(WorkerPool.Threads(settings.Threads)) : null;
        if (readGBps is not null && !ResidentMemory.ResetPeak())
            stderr.WriteLine("warning: the peak-memory mark could not be reset (/proc/self/clear_refs): rss_bytes includes the bandwidth test's buffer");
        using var m = LoadProgressLine.Load(path, new ModelOptions { Threads = settings.Threads, Repack = settings.Repack }, stderr);
        // The type of the first layer's query projection (the fused q/k/v one of a DeltaNet layer).
        string type = new[] { "blk.0.attn_q.weight", "blk.0.attn_qkv.weight" }.Select(n => m.File.TryGetTensor(n, out var t) ? t.Type.ToString() : null).FirstOrDefault(t => t is not null) ?? "?";
        if (settings.DiskResume)
        {
            DiskResume.Run(m, settings.Prompts, settings.KeyTypes[0], settings.ValueTypes[0], stdout, stderr, cancel);
            return cancel.IsCancellationRequested ? 130 : 0;
        }

        var info = new RunInfo(Path.GetFileName(path), type, m.Threads, m.Config.ContextLength);
        var plan = settings.Plan();
        foreach (var test in plan.Where(t => t.Positions > info.ContextLength))
            stderr.WriteLine($"warning: {test.Name} reaches {test.Positions} positions, beyond the model's trained context of {info.ContextLength}; running anyway");
        var energy = EnergyMeter.Open(settings.PowercapRoot);
        if (energy is null)
            stderr.WriteLine("energy counters unavailable (/sys/class/powercap not readable): tokens_per_joule omitted");

        if (readGBps is not null)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"read bandwidth: {readGBps:F1} GB/s ({m.Threads} threads streaming {Bandwidth.DefaultBytes >> 20} MiB, best of {Bandwidth.Passes}); a tg step reads {Bandwidth.WeightBytesPerToken(m) / 1e6:F0} MB of weights"));
        }

        var rows = new List<BenchRow>();
        var bench = new TestRunner(m, info, settings.Repetitions, energy, stderr, cancel) { ReadGBps = readGBps };
        if (settings.ShowProgress)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
            console.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(context =>
                {
                    var task = context.AddTask("bench", maxValue: plan.Count * (settings.Repetitions + 1));
                    bench.BeforeRun = test => task.Description = Markup.Escape(test.Name);
                    bench.AfterRun = () => task.Increment(1);
                    bench.RunAll(plan, rows, finished);
                });
        }
        else
        {
            bench.RunAll(plan, rows, finished);
        }

        if (cancel.IsCancellationRequested)
            stderr.WriteLine($"interrupted: {rows.Count} of {plan.Count} tests finished");
        if (compare is not null)
            rows = rows.Select(r => r with { CompareTs = compare.Match(r) }).ToList();
        BenchOutput.Write(stdout, settings.Format, rows, compare);
        if (settings.PlotPath is not null && rows.Count > 0)
            BenchPlot.Save(settings.PlotPath, rows, info);
        else if (settings.PlotPath is not null)
            stderr.WriteLine($"no test finished: {settings.PlotPath} not written");
        return cancel.IsCancellationRequested ? 130 : 0;
    }

    /// <summary>llama.cpp's --no-repack: matrices keep their file's layout and type's plain kernels (slower; the
    /// rounding of llama.cpp's unrepacked kernels).</summary>
    internal static Option<bool> NoRepackOption() =>
        new("--no-repack", "-nr") { Description = "keep every matrix in the file's layout (plain kernels, llama.cpp's unrepacked rounding; slower)" };

    private static int[] Counts(string list, string flag)
    {
        var values = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var counts = values.Select(v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1).ToArray();
        return counts.Length > 0 && counts.All(n => n >= 0)
            ? counts
            : throw new ArgumentException($"{flag} must be a comma list of token counts (0 or more), not '{list}'");
    }

    private static GgmlType[] Types(string list, string flag)
    {
        var names = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0)
            throw new ArgumentException($"{flag} must be a comma list of {KvCache.TypeNames}");
        return names.Select(name => TernCommand.ParseKvType(name, flag)).Distinct().ToArray();
    }

    /// <summary>Runs tests in order on one model, one KV cache per cache types and depth, with the depth filled once.</summary>
    private sealed class TestRunner(IModelRunner m, RunInfo info, int repetitions, EnergyMeter? energy, TextWriter log, CancellationToken cancel)
    {
        // Time spent in warm-up runs before each test's measured ones (at least one warm-up run either way).
        // (Capped in runs, so a tiny model's tests do not spin for the whole time.)
        private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(2);
        private const int MaxWarmUps = 8;

        public Action<BenchTest>? BeforeRun { get; set; }
        public double? ReadGBps { get; init; }
        private readonly long _weightBytes = Bandwidth.WeightBytesPerToken(m);
        public Action? AfterRun { get; set; }

        public void RunAll(IReadOnlyList<BenchTest> plan, List<BenchRow> rows, Action<BenchRow>? finished)
        {
            foreach (var group in plan.GroupBy(t => (t.KeyType, t.ValueType, t.Depth)))
            {
                if (cancel.IsCancellationRequested)
                    return;
                var (keyType, valueType, depth) = group.Key;
                int longest = group.Max(t => t.Tokens), parallel = group.Max(t => t.Parallel);
                // Room for the depth once (shared) and, per sequence, the test tokens plus a copied partial block.
                using var cache = m.CreateState(depth + parallel * (longest + 64), keyType: keyType, valueType: valueType, sequences: 1 + parallel);
                BeforeRun?.Invoke(group.First());
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var filled = BenchRuns.Fill(m, cache, depth, cancel);
                // The fill is prompt processing of the whole depth: timed once and reported, not repeated.
                if (depth > 0 && !cancel.IsCancellationRequested)
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"filled d{depth} ({KvCache.Name(keyType)}/{KvCache.Name(valueType)} KV): pp{depth} in {clock.Elapsed.TotalSeconds:F1} s, {depth / clock.Elapsed.TotalSeconds:F2} t/s"));
                foreach (var test in group)
                {
                    var row = Measure(test, cache, filled);
                    if (row is null)
                        return;
                    rows.Add(row);
                    finished?.Invoke(row);
                }
            }
        }

        /// <summary>
        /// Warm-up runs (JIT, page faults) until <see cref="WarmUp"/> has passed or <see cref="MaxWarmUps"/> ran, then
        /// the measured ones; null when cancelled before the end. One short warm-up left the first test of a process
        /// ~25 % slow: .NET's tiered JIT promotes the kernels to optimized code some time after their first calls.
        /// </summary>
        private BenchRow? Measure(BenchTest test, StateCache cache, SequenceState filled)
        {
            var samples = new double[repetitions];
            double joules = 0;
            long warmUpStart = Stopwatch.GetTimestamp();
            int warmUps = 0;
            for (int i = -1; i < repetitions; i++)
            {
                if (cancel.IsCancellationRequested)
                    return null;
                if (i == 0 && Stopwatch.GetElapsedTime(warmUpStart) < WarmUp && warmUps < MaxWarmUps)
                    i = -1; // still warming up
                if (i < 0)
                    warmUps++;
                BeforeRun?.Invoke(test);
                long[]? before = energy?.Read();
                double speed = test.Prompt > 0
                    ? BenchRuns.Prompt(m, cache, filled, test.Prompt)
                    : BenchRuns.Generate(m, cache, filled, test.Generate, test.Parallel);
                if (i >= 0)
                {
                    samples[i] = speed;
                    if (energy is not null)
                        joules += energy.JoulesBetween(before!, energy.Read());
                }

                AfterRun?.Invoke();
            }

            double mean = samples.Average();
            double variance = samples.Length > 1 ? samples.Sum(s => (s - mean) * (s - mean)) / (samples.Length - 1) : 0;
            long tokens = (long)test.Tokens * test.Parallel;
            // RAPL counters tick about once a millisecond: a shorter test can read 0 J, which gives no ratio.
            double? perJoule = joules > 0 ? tokens * repetitions / joules : null;
            // The depth is held once, each sequence's own tokens apart; sliding-window layers hold at most their window.
            long depthKv = m.Config.SessionMemory(test.Depth, test.KeyType, test.ValueType).KvBytes;
            long kv = depthKv + test.Parallel * (m.Config.SessionMemory(test.Depth + test.Tokens, test.KeyType, test.ValueType).KvBytes - depthKv);
            return new BenchRow(info, test, mean, Math.Sqrt(variance), samples, ResidentMemory.PeakBytes(), kv, perJoule)
            {
                RecurrentBytes = test.Parallel * m.Config.RecurrentBytesPerSequence,
                // A step reads the weights once and each sequence's cache (at the test's middle position) and state.
                StepBytes = test.Prompt > 0 ? 0 : _weightBytes + test.Parallel
                    * (m.Config.SessionMemory(test.Depth + test.Generate / 2, test.KeyType, test.ValueType).KvBytes + m.Config.RecurrentBytesPerSequence),
                ReadGBps = ReadGBps,
            };
        }
    }
}
