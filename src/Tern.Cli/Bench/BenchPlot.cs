using ScottPlot;
using SkiaSharp;

namespace Tern.Cli.Bench;

/// <summary>
/// Tokens/s against depth as an SVG or PNG: prompt processing and generation in two panels side by side (their
/// speeds differ by orders of magnitude, so one axis would flatten generation), one line per series.
/// </summary>
internal static class BenchPlot
{
    private const int PanelWidth = 800, Height = 600;

    /// <exception cref="ArgumentException">The file is neither .svg nor .png.</exception>
    public static void CheckPath(string path)
    {
        if (Format(path) is null)
            throw new ArgumentException($"--plot must name a .svg or .png file, not '{path}'");
    }

    public static void Save(string path, IReadOnlyList<BenchRow> rows, RunInfo info)
    {
        var panels = new[]
            {
                (Title: "prompt processing (pp)", Rows: rows.Where(r => r.Test.Prompt > 0).ToList()),
                (Title: "generation (tg)", Rows: rows.Where(r => r.Test.Prompt == 0).ToList()),
            }
            .Where(p => p.Rows.Count > 0)
            .Select(p => Panel($"{info.Model} ({info.Type}), {info.Threads} thread{(info.Threads == 1 ? "" : "s")}: {p.Title}", p.Rows))
            .ToArray();
        int width = PanelWidth * Math.Max(1, panels.Length);

        void Draw(SKCanvas canvas)
        {
            canvas.Clear(SKColors.White);
            for (int i = 0; i < panels.Length; i++)
            {
                // Plot.Render fills its whole canvas, so each panel is clipped to its own half.
                var rect = new PixelRect(i * PanelWidth, (i + 1) * PanelWidth, Height, 0);
                canvas.Save();
                canvas.ClipRect(rect.ToSKRect());
                panels[i].Render(canvas, rect);
                canvas.Restore();
            }
        }

        string full = System.IO.Path.GetFullPath(path);
        if (Format(path) == "svg")
        {
            using var stream = File.Create(full);
            using var canvas = SKSvgCanvas.Create(new SKRect(0, 0, width, Height), stream);
            Draw(canvas);
        }
        else
        {
            using var surface = SKSurface.Create(new SKImageInfo(width, Height));
            Draw(surface.Canvas);
            using var image = surface.Snapshot();
            using var png = image.Encode(SKEncodedImageFormat.Png, 100);
            using var stream = File.Create(full);
            png.SaveTo(stream);
        }
    }

    /// <summary>One line per series: everything but the depth (test size, parallelism, cache types) in the legend.</summary>
    private static Plot Panel(string title, List<BenchRow> rows)
    {
        var plot = new Plot();
        bool types = rows.Any(r => r.Test.HasQuantizedCache);
        foreach (var series in rows.GroupBy(r => r.Test with { Depth = 0 }))
        {
            var points = series.OrderBy(r => r.Test.Depth).ToArray();
            var line = plot.Add.Scatter(points.Select(r => (double)r.Test.Depth).ToArray(), points.Select(r => r.Mean).ToArray());
            var t = series.Key;
            line.LegendText = t.Name + (types ? $" K {t.TypeK} V {t.TypeV}" : "") + (t.Parallel > 1 ? " (sum of sequences)" : "");
            line.MarkerSize = 7;
            line.LineWidth = 2;
        }

        plot.Title(title);
        plot.XLabel("depth (tokens already in the KV cache)");
        plot.YLabel("tokens/s");
        plot.ShowLegend(Edge.Bottom); // outside the data, so it hides no line
        // From zero on both axes, so that a drop with depth is seen at its true size.
        double xMax = Math.Max(1, rows.Max(r => r.Test.Depth)), yMax = rows.Max(r => r.Mean);
        plot.Axes.SetLimits(-0.04 * xMax, 1.04 * xMax, 0, 1.15 * yMax);
        return plot;
    }

    private static string? Format(string path) => System.IO.Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".svg" => "svg",
        ".png" => "png",
        _ => null,
    };
}
