using System.Globalization;
using System.Text.Json;

namespace Tern.Cli.Bench;

/// <summary>Writes bench rows as a markdown table, CSV, a JSON array or JSON lines.</summary>
internal static class BenchOutput
{
    public static readonly string[] Formats = ["md", "csv", "json", "jsonl"];

    /// <summary>With a comparison, md gets a second table after the first; the other formats a compare_ratio field.</summary>
    public static void Write(TextWriter stdout, string format, IReadOnlyList<BenchRow> rows, BenchCompare? compare)
    {
        bool compared = compare is not null;
        switch (format)
        {
            case "json":
                stdout.WriteLine(JsonSerializer.Serialize(rows.Select(r => r.Fields(compared)), new JsonSerializerOptions { WriteIndented = true }));
                break;
            case "jsonl":
                foreach (var r in rows)
                    stdout.WriteLine(JsonSerializer.Serialize(r.Fields(compared)));
                break;
            case "csv":
                WriteCsv(stdout, rows, compared);
                break;
            default:
                WriteMarkdown(stdout, rows);
                compare?.WriteTable(stdout, rows);
                break;
        }
    }

    private static void WriteCsv(TextWriter stdout, IReadOnlyList<BenchRow> rows, bool compared)
    {
        stdout.WriteLine("model_filename,model_type,n_threads,type_k,type_v,n_prompt,n_gen,n_depth,n_parallel,test,avg_ts,aggregate_ts,rss_bytes,kv_bytes,recurrent_bytes,tokens_per_joule,effective_gbps,read_gbps,bandwidth_share"
            + (compared ? ",compare_ratio" : ""));
        foreach (var r in rows)
        {
            var t = r.Test;
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{r.Info.File},{r.Info.Type},{r.Info.Threads},{t.TypeK},{t.TypeV},{t.Prompt},{t.Generate},{t.Depth},{t.Parallel},{t.Name},{r.Mean / t.Parallel:F2},{r.Mean:F2},{r.RssBytes},{r.KvBytes},{r.RecurrentBytes},{r.TokensPerJoule:F3},{r.EffectiveGBps:F2},{r.ReadGBps:F2},{r.BandwidthShare:F3}");
            if (compared)
                line += string.Create(CultureInfo.InvariantCulture, $",{r.CompareRatio:F3}"); // empty when unmatched
            stdout.WriteLine(line);
        }
    }

    /// <summary>llama-bench's table; the KV cache types get columns only when one of them is not f16, the bandwidth
    /// ones (effective GB/s of tg tests and their share of the measured read bandwidth) only with --bandwidth.</summary>
    private static void WriteMarkdown(TextWriter stdout, IReadOnlyList<BenchRow> rows)
    {
        bool types = rows.Any(r => r.Test.HasQuantizedCache);
        bool bandwidth = rows.Any(r => r.ReadGBps is not null);
        stdout.WriteLine((types ? "| model | type | threads | type_k | type_v | test | t/s |" : "| model | type | threads | test | t/s |")
            + (bandwidth ? " GB/s | share |" : ""));
        stdout.WriteLine((types ? "| --- | --- | ---: | --- | --- | --- | ---: |" : "| --- | --- | ---: | --- | ---: |")
            + (bandwidth ? " ---: | ---: |" : ""));
        foreach (var r in rows)
        {
            string cache = types ? $" {r.Test.TypeK} | {r.Test.TypeV} |" : "";
            string read = !bandwidth ? ""
                : r.EffectiveGBps is { } gbps ? string.Create(CultureInfo.InvariantCulture, $" {gbps:F1} | {r.BandwidthShare:P0} |") : " – | – |";
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Info.Model} | {r.Info.Type} | {r.Info.Threads} |{cache} {r.Test.Name} | {r.Mean:F2} ± {r.StdDev:F2} |{read}"));
        }
    }
}
