using System.Globalization;
using System.Xml.Linq;
using Tern.Cli.Bench;
using Tern.Gguf;

namespace Tern.Cli.Tests;

public sealed class BenchPlotTests
{
    private static readonly XNamespace Svg = SvgChart.Namespace;

    [Fact]
    public void Svg_plot_is_an_svg_document_with_labelled_axes()
    {
        using var dir = new TempDirectory();
        string path = dir.File("speed.svg");
        var (code, _, stderr) = CliRunner.Run("bench", "-p", "8", "-n", "2", "-d", "0,16", "-r", "1", "-t", "1", "--plot", path);
        Assert.True(code == 0, stderr);
        var svg = XDocument.Load(path);
        Assert.Equal(Svg + "svg", svg.Root!.Name);
        string text = string.Concat(svg.Descendants(Svg + "text").Select(e => e.Value));
        Assert.Contains("tokens/s", text);
        Assert.Contains("depth (tokens already in the KV cache)", text);
        Assert.Contains("prompt processing", text);
        Assert.Contains("generation", text);
        // pp8 and tg2, each measured at depths 0 and 16.
        Assert.Equal([2, 2], svg.Descendants(Svg + "polyline").Select(p => Points(p).Length));
    }

    [Fact]
    public void Png_plot_is_refused_before_running_with_the_way_to_make_one()
    {
        using var dir = new TempDirectory();
        string path = dir.File("speed.png");
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "8", "-n", "2", "-r", "1", "--plot", path);
        Assert.Equal(1, code);
        Assert.Contains("--plot writes SVG: name a .svg file", stderr);
        Assert.Contains("rsvg-convert", stderr);
        Assert.Empty(stdout);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Plot_to_another_format_is_refused_before_running()
    {
        using var dir = new TempDirectory();
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "8", "-n", "2", "-r", "1", "--plot", dir.File("speed.pdf"));
        Assert.Equal(1, code);
        Assert.Contains("--plot must name a .svg file", stderr);
        Assert.Empty(stdout);
    }

    [Fact]
    public void Svg_has_the_namespace_a_viewbox_and_one_polyline_per_series_with_a_point_per_depth()
    {
        var svg = Plot(Rows(Info("m.gguf"),
            (Test(prompt: 512), [0, 1024, 4096], [900, 700, 400]),
            (Test(generate: 32), [0, 1024, 4096], [30, 25, 12]),
            (Test(generate: 32, parallel: 4), [0, 1024, 4096], [80, 60, 35])));

        Assert.Equal(Svg + "svg", svg.Root!.Name);
        Assert.Equal("1.1", (string?)svg.Root.Attribute("version"));
        Assert.Equal($"0 0 1600 {(string?)svg.Root.Attribute("height")}", (string?)svg.Root.Attribute("viewBox"));
        var panels = svg.Root.Elements(Svg + "g").ToList();
        Assert.Equal(2, panels.Count);
        Assert.Equal([1, 2], panels.Select(p => p.Descendants(Svg + "polyline").Count()));
        Assert.All(svg.Descendants(Svg + "polyline"), p => Assert.Equal(3, Points(p).Length));
        // Screen y grows downwards: falling tokens/s give growing y, and the faster series lies above the slower.
        var tg = panels[1].Descendants(Svg + "polyline").Select(p => Points(p).Select(xy => xy.Y).ToArray()).ToList();
        Assert.True(tg[0][0] < tg[0][1] && tg[0][1] < tg[0][2], string.Join(" ", tg[0]));
        Assert.All(Enumerable.Range(0, 3), i => Assert.True(tg[1][i] < tg[0][i]));
        Assert.Contains("tg32 x4 (sum of sequences)", Texts(panels[1]));
        Assert.Contains("tg32", Texts(panels[1]));
    }

    [Fact]
    public void Only_the_panels_with_rows_are_drawn_and_quantized_caches_name_their_types()
    {
        var svg = Plot(Rows(Info("m.gguf"),
            (Test(generate: 16), [0, 256], [20, 18]),
            (Test(generate: 16, key: GgmlType.Q8_0, value: GgmlType.Q4_0), [0, 256], [21, 19])));

        Assert.Equal("0 0 800", ((string?)svg.Root!.Attribute("viewBox"))![..7]);
        var texts = Texts(svg.Root);
        Assert.Contains("m (Q4_0), 2 threads: generation (tg)", texts);
        Assert.DoesNotContain(texts, t => t.Contains("prompt processing"));
        Assert.Contains("tg16 K f16 V f16", texts);
        Assert.Contains("tg16 K q8_0 V q4_0", texts);
    }

    [Fact]
    public void Axes_have_round_ticks_from_zero_covering_the_largest_value()
    {
        var svg = Plot(Rows(Info("m.gguf"), (Test(generate: 8), [0, 3000, 16384], [87.3, 61, 40.5])));

        var numbers = Texts(svg.Root!).Select(t => double.TryParse(t, CultureInfo.InvariantCulture, out double v) ? v : (double?)null)
            .OfType<double>().ToList();
        Assert.Equal([0, 5000, 10000, 15000, 20000, 0, 20, 40, 60, 80, 100], numbers);
        // A grid line per tick.
        Assert.Equal(11, svg.Descendants(Svg + "line").Count(l => (string?)l.Attribute("stroke") == "#dddddd"));
    }

    [Theory]
    [InlineData(16384, 1, new[] { 0.0, 5000, 10000, 15000, 20000 })]
    [InlineData(87.3, 0, new[] { 0.0, 20, 40, 60, 80, 100 })]
    [InlineData(100, 0, new[] { 0.0, 20, 40, 60, 80, 100 })]
    [InlineData(0.37, 0, new[] { 0.0, 0.1, 0.2, 0.3, 0.4 })]
    [InlineData(0, 1, new[] { 0.0, 1 })]
    [InlineData(1234, 0, new[] { 0.0, 500, 1000, 1500 })]
    public void Ticks_are_one_two_or_five_times_a_power_of_ten(double max, double minStep, double[] expected)
    {
        Assert.Equal(expected, SvgChart.Ticks(max, minStep));
    }

    [Fact]
    public void A_hostile_model_name_is_escaped()
    {
        using var dir = new TempDirectory();
        string path = dir.File("speed.svg");
        var rows = Rows(Info("<svg onload=alert(1)> & \"q\" 'x'\u0001.gguf"), (Test(prompt: 8), [0], [100]));
        BenchPlot.Save(path, rows, rows[0].Info);

        string raw = File.ReadAllText(path);
        Assert.DoesNotContain("<svg onload", raw);
        var title = Texts(XDocument.Load(path).Root!).First();
        Assert.Equal("<svg onload=alert(1)> & \"q\" 'x'\uFFFD (Q4_0), 2 threads: prompt processing (pp)", title);
    }

    [Fact]
    public void The_svg_is_the_same_whatever_the_culture()
    {
        var rows = Rows(Info("m.gguf"), (Test(prompt: 8), [0, 16], [1234.5678, 1000.25]));
        using var dir = new TempDirectory();
        var culture = CultureInfo.CurrentCulture;
        try
        {
            BenchPlot.Save(dir.File("a.svg"), rows, rows[0].Info);
            // A German-style culture (the tests run in globalization-invariant mode, so it is made by hand).
            var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            comma.NumberFormat.NumberGroupSeparator = ".";
            CultureInfo.CurrentCulture = comma;
            BenchPlot.Save(dir.File("b.svg"), rows, rows[0].Info);
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }

        Assert.Equal(File.ReadAllBytes(dir.File("a.svg")), File.ReadAllBytes(dir.File("b.svg")));
        Assert.Contains("1500", File.ReadAllText(dir.File("a.svg")));
    }

    private static RunInfo Info(string file) => new(file, "Q4_0", 2, 4096);

    private static BenchTest Test(int prompt = 0, int generate = 0, int parallel = 1, GgmlType key = GgmlType.F16, GgmlType value = GgmlType.F16) =>
        new(key, value, 0, prompt, generate, parallel);

    private static List<BenchRow> Rows(RunInfo info, params (BenchTest Test, int[] Depths, double[] Means)[] series) =>
        series.SelectMany(s => s.Depths.Zip(s.Means, (d, m) => new BenchRow(info, s.Test with { Depth = d }, m, 0, [m], 0, 0, null)))
            .ToList();

    private static XDocument Plot(List<BenchRow> rows)
    {
        using var dir = new TempDirectory();
        string path = dir.File("plot.svg");
        BenchPlot.Save(path, rows, rows[0].Info);
        return XDocument.Load(path);
    }

    private static List<string> Texts(XElement root) => root.Descendants(Svg + "text").Select(t => t.Value).ToList();

    private static (double X, double Y)[] Points(XElement polyline) =>
        ((string)polyline.Attribute("points")!).Split(' ')
            .Select(p => p.Split(','))
            .Select(p => (double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture)))
            .ToArray();
}
