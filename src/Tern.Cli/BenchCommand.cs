using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Tern.Models;

namespace Tern.Cli;

/// <summary>
/// `tern bench [-m FILE] [-p N] [-n N] [-r R] [-t THREADS]`: prompt processing (pp) and generation (tg) speed on
/// an empty context, as llama-bench measures them: pp runs N random tokens as one batch, tg generates N tokens one
/// at a time; each test repeats R times and reports the mean and standard deviation of tokens/s.
/// </summary>
public static class BenchCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model)" };
        var prompt = new Option<int>("--n-prompt", "-p") { Description = "prompt tokens for the pp test (0: skip)", DefaultValueFactory = _ => 512 };
        var generate = new Option<int>("--n-gen", "-n") { Description = "tokens for the tg test (0: skip)", DefaultValueFactory = _ => 128 };
        var repetitions = new Option<int>("--repetitions", "-r") { Description = "runs per test", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var command = new Command("bench", "Measure prompt and generation speed.") { model, prompt, generate, repetitions, threads };
        command.SetAction(parse =>
        {
            int p = parse.GetValue(prompt), n = parse.GetValue(generate), r = parse.GetValue(repetitions), t = parse.GetValue(threads);
            if (p < 0 || n < 0 || r < 1 || t < 0)
                throw new ArgumentException("--n-prompt and --n-gen must be 0 or more, --repetitions at least 1, --threads 0 or more");
            string path = TernCommand.ResolveModel(parse.GetValue(model));
            using var m = DecoderModel.Load(path, new ModelOptions { Threads = t });
            stdout.WriteLine($"| model | type | threads | test | t/s |");
            stdout.WriteLine($"| --- | --- | ---: | --- | ---: |");
            string name = Path.GetFileNameWithoutExtension(path);
            string type = m.File.TryGetTensor("blk.0.attn_q.weight", out var q) ? q.Type.ToString() : "?"; // the bulk weight type
            int threadCount = m.Pool.ThreadCount;
            if (p > 0)
                stdout.WriteLine(Row(name, type, threadCount, $"pp{p}", Measure(r, () => Prompt(m, p))));
            if (n > 0)
                stdout.WriteLine(Row(name, type, threadCount, $"tg{n}", Measure(r, () => Generate(m, n))));
            return 0;
        });
        return command;
    }

    /// <summary>Tokens/s of one pp run: p random tokens as one batch into a fresh cache, logits for the last.</summary>
    private static double Prompt(DecoderModel m, int p)
    {
        using var cache = m.CreateKvCache(p);
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        batch.AddRange(RandomTokens(m, p), 0, sequence);
        var logits = new float[m.Hyperparameters.VocabSize];
        var clock = Stopwatch.StartNew();
        m.Forward(batch, cache, logits);
        return p / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Tokens/s of one tg run: n tokens one forward pass each, from an empty context.</summary>
    private static double Generate(DecoderModel m, int n)
    {
        using var cache = m.CreateKvCache(n);
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        var logits = new float[m.Hyperparameters.VocabSize];
        int[] tokens = RandomTokens(m, n);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < n; i++)
        {
            batch.Clear();
            batch.Add(tokens[i], i, sequence, logits: true);
            m.Forward(batch, cache, logits);
        }

        return n / clock.Elapsed.TotalSeconds;
    }

    private static int[] RandomTokens(DecoderModel m, int count)
    {
        var random = new Random(42);
        return Enumerable.Range(0, count).Select(_ => random.Next(m.Hyperparameters.VocabSize)).ToArray();
    }

    /// <summary>One warm-up run (JIT, page faults), then <paramref name="repetitions"/> measured ones.</summary>
    private static (double Mean, double StdDev) Measure(int repetitions, Func<double> run)
    {
        run();
        var samples = Enumerable.Range(0, repetitions).Select(_ => run()).ToArray();
        double mean = samples.Average();
        double variance = samples.Length > 1 ? samples.Sum(s => (s - mean) * (s - mean)) / (samples.Length - 1) : 0;
        return (mean, Math.Sqrt(variance));
    }

    private static string Row(string model, string type, int threads, string test, (double Mean, double StdDev) speed) =>
        string.Create(CultureInfo.InvariantCulture, $"| {model} | {type} | {threads} | {test} | {speed.Mean:F2} ± {speed.StdDev:F2} |");
}
