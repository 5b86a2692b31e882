using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Tern.Models;

namespace Tern.Cli;

/// <summary>
/// `tern bench [-m FILE] [-p N,..] [-n N,..] [-d DEPTH,..] [-np N,..] [-r R] [-t THREADS] [-o md|csv|json|jsonl]`: prompt
/// processing (pp) and generation (tg) speed as llama-bench measures them, optionally with the KV cache already
/// holding DEPTH tokens (`pp512 @ d4096`). The depth is filled once per depth and shared, copy-on-write, by every
/// repetition; pp runs N random tokens as one batch, tg generates N tokens one at a time, for -np sequences at
/// once (the table shows their aggregate tokens/s; JSON's avg_ts is per sequence, aggregate_ts all of them).
/// </summary>
public static class BenchCommand
{
    private const int FillBatch = 512;

    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model)" };
        var prompt = new Option<string>("--n-prompt", "-p") { Description = "prompt tokens for pp tests, comma list (0: skip)", DefaultValueFactory = _ => "512" };
        var generate = new Option<string>("--n-gen", "-n") { Description = "tokens for tg tests, comma list (0: skip)", DefaultValueFactory = _ => "128" };
        var depth = new Option<string>("--n-depth", "-d") { Description = "tokens already in the KV cache, comma list", DefaultValueFactory = _ => "0" };
        var parallel = new Option<string>("--parallel", "-np") { Description = "sequences decoding together in tg tests, comma list", DefaultValueFactory = _ => "1" };
        var repetitions = new Option<int>("--repetitions", "-r") { Description = "runs per test", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var output = new Option<string>("--output", "-o") { Description = "md, csv, json or jsonl", DefaultValueFactory = _ => "md" };
        var command = new Command("bench", "Measure prompt and generation speed, optionally at depth.") { model, prompt, generate, depth, parallel, repetitions, threads, output };
        command.SetAction(parse =>
        {
            int[] ps = Counts(parse.GetValue(prompt)!, "--n-prompt"), ns = Counts(parse.GetValue(generate)!, "--n-gen"), ds = Counts(parse.GetValue(depth)!, "--n-depth");
            int[] nps = Counts(parse.GetValue(parallel)!, "--parallel");
            if (nps.Any(n => n < 1))
                throw new ArgumentException("--parallel must list sequence counts of 1 or more");
            int r = parse.GetValue(repetitions), t = parse.GetValue(threads);
            string format = parse.GetValue(output)!;
            if (r < 1 || t < 0)
                throw new ArgumentException("--repetitions must be at least 1 and --threads 0 or more");
            if (format is not ("md" or "csv" or "json" or "jsonl"))
                throw new ArgumentException($"--output must be md, csv, json or jsonl, not '{format}'");
            string path = TernCommand.ResolveModel(parse.GetValue(model));
            using var m = DecoderModel.Load(path, new ModelOptions { Threads = t });
            var info = new RunInfo(Path.GetFileName(path), m.File.TryGetTensor("blk.0.attn_q.weight", out var q) ? q.Type.ToString() : "?", m.Pool.ThreadCount);
            var rows = new List<Result>();
            foreach (int d in ds)
            {
                int longest = Math.Max(ps.Max(), ns.Max());
                // Room for the depth once (shared) and, per sequence, the test tokens plus a copied partial block.
                using var cache = m.CreateKvCache(d + nps.Max() * (longest + 64));
                var filled = Fill(m, cache, d);
                foreach (int p in ps.Where(p => p > 0))
                    rows.Add(Measure(info, p, 0, d, 1, r, () => Prompt(m, cache, filled, p)));
                foreach (int np in nps)
                {
                    foreach (int n in ns.Where(n => n > 0))
                        rows.Add(Measure(info, 0, n, d, np, r, () => Generate(m, cache, filled, n, np)));
                }
            }

            Write(stdout, format, rows);
            return 0;
        });
        return command;
    }

    private static int[] Counts(string list, string flag)
    {
        var values = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var counts = values.Select(v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1).ToArray();
        return counts.Length > 0 && counts.All(n => n >= 0)
            ? counts
            : throw new ArgumentException($"{flag} must be a comma list of token counts (0 or more), not '{list}'");
    }

    /// <summary>A sequence holding <paramref name="depth"/> random tokens, run in batches of 512.</summary>
    private static KvSequence Fill(DecoderModel m, KvCache cache, int depth)
    {
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        var logits = new float[m.Hyperparameters.VocabSize];
        int[] tokens = RandomTokens(m, depth, seed: 7);
        for (int start = 0; start < depth; start += FillBatch)
        {
            batch.Clear();
            batch.AddRange(tokens.AsSpan(start, Math.Min(FillBatch, depth - start)), start, sequence);
            m.Forward(batch, cache, logits);
        }

        return sequence;
    }

    /// <summary>Tokens/s of one pp run: p random tokens as one batch after the filled depth.</summary>
    private static double Prompt(DecoderModel m, KvCache cache, KvSequence filled, int p)
    {
        var sequence = cache.Fork(filled, filled.Length);
        try
        {
            var batch = new TokenBatch();
            batch.AddRange(RandomTokens(m, p, seed: 42), filled.Length, sequence);
            var logits = new float[m.Hyperparameters.VocabSize];
            var clock = Stopwatch.StartNew();
            m.Forward(batch, cache, logits);
            return p / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            cache.Free(sequence);
        }
    }

    /// <summary>Aggregate tokens/s of one tg run: <paramref name="np"/> sequences after the filled depth, each
    /// generating n tokens, all of them in one forward pass per step.</summary>
    private static double Generate(DecoderModel m, KvCache cache, KvSequence filled, int n, int np)
    {
        var sequences = Enumerable.Range(0, np).Select(_ => cache.Fork(filled, filled.Length)).ToArray();
        try
        {
            var batch = new TokenBatch();
            var logits = new float[np * m.Hyperparameters.VocabSize];
            int[] tokens = RandomTokens(m, n * np, seed: 42);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < n; i++)
            {
                batch.Clear();
                for (int s = 0; s < np; s++)
                    batch.Add(tokens[i * np + s], filled.Length + i, sequences[s], logits: true);
                m.Forward(batch, cache, logits);
            }

            return n * np / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var sequence in sequences)
                cache.Free(sequence);
        }
    }

    private static int[] RandomTokens(DecoderModel m, int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(m.Hyperparameters.VocabSize)).ToArray();
    }

    /// <summary>One warm-up run (JIT, page faults), then <paramref name="repetitions"/> measured ones.</summary>
    private static Result Measure(RunInfo info, int p, int n, int d, int np, int repetitions, Func<double> run)
    {
        run();
        var samples = Enumerable.Range(0, repetitions).Select(_ => run()).ToArray();
        double mean = samples.Average();
        double variance = samples.Length > 1 ? samples.Sum(s => (s - mean) * (s - mean)) / (samples.Length - 1) : 0;
        return new Result(info, p, n, d, np, mean, Math.Sqrt(variance), samples);
    }

    private static void Write(TextWriter stdout, string format, List<Result> rows)
    {
        switch (format)
        {
            case "json":
                stdout.WriteLine(JsonSerializer.Serialize(rows.Select(r => r.Fields()), new JsonSerializerOptions { WriteIndented = true }));
                break;
            case "jsonl":
                foreach (var r in rows)
                    stdout.WriteLine(JsonSerializer.Serialize(r.Fields()));
                break;
            case "csv":
                stdout.WriteLine("model_filename,model_type,n_threads,type_k,type_v,n_prompt,n_gen,n_depth,n_parallel,test,avg_ts,aggregate_ts");
                foreach (var r in rows)
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Info.File},{r.Info.Type},{r.Info.Threads},f16,f16,{r.Prompt},{r.Generate},{r.Depth},{r.Parallel},{r.Test},{r.Mean / r.Parallel:F2},{r.Mean:F2}"));
                break;
            default:
                stdout.WriteLine("| model | type | threads | test | t/s |");
                stdout.WriteLine("| --- | --- | ---: | --- | ---: |");
                foreach (var r in rows)
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {Path.GetFileNameWithoutExtension(r.Info.File)} | {r.Info.Type} | {r.Info.Threads} | {r.Test} | {r.Mean:F2} ± {r.StdDev:F2} |"));
                break;
        }
    }

    private sealed record RunInfo(string File, string Type, int Threads);

    /// <summary>One test's speeds; for tg with several sequences, Mean is the aggregate over all of them.</summary>
    private sealed record Result(RunInfo Info, int Prompt, int Generate, int Depth, int Parallel, double Mean, double StdDev, double[] Samples)
    {
        public string Test => (Prompt > 0 ? $"pp{Prompt}" : $"tg{Generate}") + (Depth > 0 ? $" @ d{Depth}" : "") + (Parallel > 1 ? $" x{Parallel}" : "");

        /// <summary>llama-bench's JSON field names where the concept is the same.</summary>
        public Dictionary<string, object> Fields() => new()
        {
            ["model_filename"] = Info.File,
            ["model_type"] = Info.Type,
            ["n_threads"] = Info.Threads,
            ["type_k"] = "f16",
            ["type_v"] = "f16",
            ["n_prompt"] = Prompt,
            ["n_gen"] = Generate,
            ["n_depth"] = Depth,
            ["n_parallel"] = Parallel,
            ["aggregate_ts"] = Math.Round(Mean, 3),
            ["test"] = Test,
            ["avg_ts"] = Math.Round(Mean / Parallel, 3),
            ["stddev_ts"] = Math.Round(StdDev / Parallel, 3),
            ["samples_ts"] = Samples.Select(s => Math.Round(s / Parallel, 3)).ToArray(),
        };
    }
}
