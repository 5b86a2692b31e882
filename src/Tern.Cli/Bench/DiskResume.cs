using System.Diagnostics;
using System.Globalization;
using Tern.Gguf;
using Tern.Models;
using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;
using Tern.Tokenizers;

namespace Tern.Cli.Bench;

/// <summary>
/// `tern bench --disk-resume`: time to first token of a conversation of N tokens resumed after a restart from the
/// prefix cache's disk tier, against processing it again. Per N: a fresh engine without cache runs the conversation
/// plus a new turn (recompute); engine 1 with a cache folder runs the conversation and is disposed (its blocks written);
/// engine 2 on the same folder runs the conversation plus the new turn (resume). Each time to first token is one run
/// with one generated token; the tokens are random.
/// </summary>
internal static class DiskResume
{
    /// <summary>Tokens of the new turn after the conversation.</summary>
    public const int Turn = 32;

    public static void Run(IModelRunner model, IReadOnlyList<int> lengths, GgmlType keyType, GgmlType valueType, TextWriter stdout, TextWriter log, CancellationToken cancel)
    {
        var tokenizer = Tokenizer.FromGguf(model.File);
        stdout.WriteLine("| conversation | recompute TTFT s | engine 1: fill s | flush to disk s | disk MB | engine 2: start s | resume TTFT s | cached tokens | speedup |");
        stdout.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (int n in lengths.Where(n => n > 0))
        {
            if (cancel.IsCancellationRequested)
                return;
            var random = new Random(n);
            int[] conversation = [.. Enumerable.Range(0, n).Select(_ => random.Next(model.Config.VocabSize))];
            int[] next = [.. conversation, .. Enumerable.Range(0, Turn).Select(_ => random.Next(model.Config.VocabSize))];
            string dir = Directory.CreateTempSubdirectory("tern-bench-disk-").FullName;
            try
            {
                var options = new EngineOptions { Parallel = 1, ContextPerSequence = n + Turn + 64, KeyType = keyType, ValueType = valueType, PrefixCacheTokens = 0 };
                var disk = options with { DiskCache = new DiskCacheOptions { Directory = dir, MaxBytes = long.MaxValue, Warn = log.WriteLine } };

                double recompute;
                using (var fresh = new InferenceEngine(model, tokenizer, options with { PrefixCache = false }))
                    (recompute, _) = FirstToken(fresh, next, cancel);
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n}: recompute {recompute:F2} s"));

                var engine1 = new InferenceEngine(model, tokenizer, disk);
                var (fill, _) = FirstToken(engine1, conversation, cancel);
                long start = Stopwatch.GetTimestamp();
                engine1.Dispose();
                double flush = Stopwatch.GetElapsedTime(start).TotalSeconds;
                long bytes = new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

                start = Stopwatch.GetTimestamp();
                using var engine2 = new InferenceEngine(model, tokenizer, disk);
                double open = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var (resume, cached) = FirstToken(engine2, next, cancel);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {n} + {Turn} | {recompute:F2} | {fill:F2} | {flush:F2} | {bytes / 1e6:F1} | {open:F3} | {resume:F2} | {cached} | {recompute / resume:F1}x |"));
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    /// <summary>Seconds from submitting <paramref name="prompt"/> to its first token, and its cached prompt tokens.</summary>
    private static (double Seconds, int Cached) FirstToken(InferenceEngine engine, int[] prompt, CancellationToken cancel)
    {
        long start = Stopwatch.GetTimestamp();
        var response = engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = new SamplingParams { Temperature = 0 }, MaxTokens = 1 }, cancel)
            .ReadToEndAsync(cancel).GetAwaiter().GetResult();
        return (Stopwatch.GetElapsedTime(start).TotalSeconds, response.Finished.Usage.CachedTokens);
    }
}
