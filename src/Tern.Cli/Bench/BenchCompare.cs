using System.Globalization;
using System.Text.Json;

namespace Tern.Cli.Bench;

/// <summary>
/// Another engine's results in llama-bench's JSON (an array of rows, or JSON lines), matched to Tern's rows by
/// test (n_prompt, n_gen, n_depth), n_threads, and type_k/type_v and n_parallel when the other file has them.
/// </summary>
internal sealed class BenchCompare
{
    private readonly List<JsonElement> _rows;

    private BenchCompare(string path, List<JsonElement> rows)
    {
        Path = path;
        _rows = rows;
    }

    public string Path { get; }

    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not llama-bench JSON; the message names the file.</exception>
    public static BenchCompare Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"--compare: {path} not found", path);
        string text = File.ReadAllText(path).Trim();
        var rows = new List<JsonElement>();
        try
        {
            if (text.StartsWith('['))
                rows.AddRange(JsonDocument.Parse(text).RootElement.EnumerateArray().Select(r => r.Clone()));
            else
                rows.AddRange(text.Split('\n').Where(l => l.Trim().Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"--compare: {path} is not llama-bench JSON (an array or JSON lines): {e.Message}", e);
        }

        for (int i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            if (row.ValueKind != JsonValueKind.Object || Number(row, "n_prompt") is null || Number(row, "n_gen") is null
                || Number(row, "n_threads") is null || Number(row, "avg_ts") is null)
                throw new InvalidDataException($"--compare: {path} row {i + 1} lacks llama-bench's n_prompt, n_gen, n_threads or avg_ts");
        }

        return new BenchCompare(path, rows);
    }

    /// <summary>The other engine's aggregate tokens/s for this test, or null when it has no such row.</summary>
    public double? Match(BenchRow row)
    {
        var t = row.Test;
        foreach (var other in _rows)
        {
            double parallel = Number(other, "n_parallel") ?? 1;
            if (Number(other, "n_prompt") == t.Prompt && Number(other, "n_gen") == t.Generate && (Number(other, "n_depth") ?? 0) == t.Depth
                && Number(other, "n_threads") == row.Info.Threads && parallel == t.Parallel
                && SameType(other, "type_k", t.TypeK) && SameType(other, "type_v", t.TypeV))
                return Number(other, "aggregate_ts") ?? Number(other, "avg_ts") * parallel;
        }

        return null;
    }

    /// <summary>The comparison as a markdown table; "–" where the other file has no such test.</summary>
    public void WriteTable(TextWriter stdout, IReadOnlyList<BenchRow> rows)
    {
        bool types = rows.Any(r => r.Test.HasQuantizedCache);
        stdout.WriteLine();
        stdout.WriteLine($"compared with {System.IO.Path.GetFileName(Path)} (ratio = Tern / other):");
        stdout.WriteLine();
        stdout.WriteLine("| test | Tern t/s | other t/s | ratio |");
        stdout.WriteLine("| --- | ---: | ---: | ---: |");
        foreach (var r in rows)
        {
            string test = types ? $"{r.Test.Name} ({r.Test.TypeK}/{r.Test.TypeV})" : r.Test.Name;
            string other = r.CompareTs is { } ts ? ts.ToString("F2", CultureInfo.InvariantCulture) : "–";
            string ratio = r.CompareRatio is { } x ? x.ToString("F2", CultureInfo.InvariantCulture) : "–";
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {test} | {r.Mean:F2} | {other} | {ratio} |"));
        }
    }

    private static double? Number(JsonElement row, string name) =>
        row.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static bool SameType(JsonElement row, string name, string type) =>
        !row.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String || string.Equals(v.GetString(), type, StringComparison.OrdinalIgnoreCase);
}
