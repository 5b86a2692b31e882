namespace Tern.Cli.Bench;

/// <summary>
/// Tokens/s against depth as an SVG file: prompt processing and generation in two panels side by side (their speeds
/// differ by orders of magnitude, so one axis would flatten generation), one line per series.
/// </summary>
internal static class BenchPlot
{
    /// <exception cref="ArgumentException">The file is not .svg (a .png gets told how to make one from the SVG).</exception>
    public static void CheckPath(string path)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension == ".png")
            throw new ArgumentException($"--plot writes SVG: name a .svg file, not '{path}' (a browser or `rsvg-convert -o {Path.ChangeExtension(path, ".png")} {Path.ChangeExtension(path, ".svg")}` turns SVG into PNG)");
        if (extension != ".svg")
            throw new ArgumentException($"--plot must name a .svg file, not '{path}'");
    }

    public static void Save(string path, IReadOnlyList<BenchRow> rows, RunInfo info)
    {
        var panels = new[]
            {
                (Title: "prompt processing (pp)", Rows: rows.Where(r => r.Test.Prompt > 0).ToList()),
                (Title: "generation (tg)", Rows: rows.Where(r => r.Test.Prompt == 0).ToList()),
            }
            .Where(p => p.Rows.Count > 0)
            .Select(p => Chart($"{info.Model} ({info.Type}), {info.Threads} thread{(info.Threads == 1 ? "" : "s")}: {p.Title}", p.Rows))
            .ToList();
        using var stream = File.Create(Path.GetFullPath(path));
        SvgChart.Write(stream, panels);
    }

    /// <summary>One line per series: everything but the depth (test size, parallelism, cache types) in the legend.</summary>
    private static LineChart Chart(string title, List<BenchRow> rows)
    {
        bool types = rows.Any(r => r.Test.HasQuantizedCache);
        var series = rows.GroupBy(r => r.Test with { Depth = 0 })
            .Select(s =>
            {
                var t = s.Key;
                string label = t.Name + (types ? $" K {t.TypeK} V {t.TypeV}" : "") + (t.Parallel > 1 ? " (sum of sequences)" : "");
                return new LineSeries(label, s.OrderBy(r => r.Test.Depth).Select(r => ((double)r.Test.Depth, r.Mean)).ToList());
            })
            .ToList();
        // From zero on both axes (SvgChart's), so that a drop with depth is seen at its true size.
        return new LineChart(title, "depth (tokens already in the KV cache)", "tokens/s", series);
    }
}
