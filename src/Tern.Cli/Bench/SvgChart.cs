using System.Globalization;
using System.Text;
using System.Xml;

namespace Tern.Cli.Bench;

/// <summary>One line of a chart: its legend text and its points in data units.</summary>
internal sealed record LineSeries(string Label, IReadOnlyList<(double X, double Y)> Points);

/// <summary>A line chart: a title, axis labels and the series, both axes from zero.</summary>
internal sealed record LineChart(string Title, string XLabel, string YLabel, IReadOnlyList<LineSeries> Series);

/// <summary>
/// Line charts side by side as one SVG 1.1 document, written by hand (XmlWriter escapes every text): each panel has
/// its title, grid lines at round tick values, axis labels, one polyline with round markers per series, and the
/// legend below the data, two entries a row. Numbers are written in the invariant culture, so the output is
/// deterministic.
/// </summary>
internal static class SvgChart
{
    public const string Namespace = "http://www.w3.org/2000/svg";

    private const int PanelWidth = 800, Left = 80, Right = 770, Top = 60, Bottom = 460, LegendTop = 530, LegendRow = 20;

    private static readonly string[] Colors =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    public static void Write(Stream stream, IReadOnlyList<LineChart> charts)
    {
        int width = PanelWidth * charts.Count;
        int height = LegendTop + LegendRow * charts.Max(c => (c.Series.Count + 1) / 2) + 10;
        var settings = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false) };
        using var w = XmlWriter.Create(stream, settings);
        w.WriteStartElement("svg", Namespace);
        Attributes(w, ("version", "1.1"), ("width", width), ("height", height), ("viewBox", $"0 0 {width} {height}"),
            ("font-family", "sans-serif"), ("font-size", 12));
        Element(w, "rect", ("width", width), ("height", height), ("fill", "white"));
        for (int i = 0; i < charts.Count; i++)
        {
            w.WriteStartElement("g");
            if (i > 0)
                Attributes(w, ("transform", $"translate({i * PanelWidth} 0)"));
            Panel(w, charts[i]);
            w.WriteEndElement();
        }

        w.WriteEndElement();
    }

    /// <summary>
    /// Round tick values from 0 to the first one at or above <paramref name="max"/>: a step of 1, 2 or 5 times a
    /// power of ten giving about five intervals, at least <paramref name="minStep"/>.
    /// </summary>
    public static double[] Ticks(double max, double minStep = 0)
    {
        if (!(max > 0 && double.IsFinite(max)))
            max = 1;
        double raw = max / 5, power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = Math.Max(minStep, new[] { 1, 2, 5, 10 }.Select(m => m * power).First(s => s >= raw * (1 - 1e-9)));
        int count = (int)Math.Ceiling(max / step - 1e-9);
        int decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(step)));
        return Enumerable.Range(0, count + 1).Select(i => Math.Round(i * step, decimals)).ToArray();
    }

    private static void Panel(XmlWriter w, LineChart chart)
    {
        double[] xTicks = Ticks(chart.Series.SelectMany(s => s.Points).Max(p => p.X), minStep: 1);
        double[] yTicks = Ticks(chart.Series.SelectMany(s => s.Points).Max(p => p.Y));
        double X(double x) => Left + (Right - Left) * x / xTicks[^1];
        double Y(double y) => Bottom - (Bottom - Top) * y / yTicks[^1];

        Text(w, chart.Title, (Left + Right) / 2.0, Top / 2.0, size: 16);
        foreach (double t in xTicks)
        {
            Element(w, "line", ("x1", X(t)), ("y1", Top), ("x2", X(t)), ("y2", Bottom), ("stroke", "#dddddd"));
            Text(w, Number(t), X(t), Bottom + 18);
        }

        foreach (double t in yTicks)
        {
            Element(w, "line", ("x1", Left), ("y1", Y(t)), ("x2", Right), ("y2", Y(t)), ("stroke", "#dddddd"));
            Text(w, Number(t), Left - 8, Y(t) + 4, anchor: "end");
        }

        Element(w, "path", ("d", $"M{Left} {Top}V{Bottom}H{Right}"), ("fill", "none"), ("stroke", "black"));
        Text(w, chart.XLabel, (Left + Right) / 2.0, Bottom + 45, size: 14);
        double yMiddle = (Top + Bottom) / 2.0;
        Text(w, chart.YLabel, 25, yMiddle, size: 14, transform: $"rotate(-90 25 {Number(yMiddle)})");

        for (int i = 0; i < chart.Series.Count; i++)
        {
            var series = chart.Series[i];
            string color = Colors[i % Colors.Length];
            w.WriteStartElement("g");
            Attributes(w, ("fill", color), ("stroke", color));
            string points = string.Join(" ", series.Points.Select(p => $"{Number(X(p.X))},{Number(Y(p.Y))}"));
            Element(w, "polyline", ("points", points), ("fill", "none"), ("stroke-width", 2));
            foreach (var p in series.Points)
                Element(w, "circle", ("cx", X(p.X)), ("cy", Y(p.Y)), ("r", 3.5));

            // The legend: two entries a row under the x axis label, a short line with its marker, then the text.
            double x = Left + (i % 2) * (Right - Left) / 2.0, y = LegendTop + (i / 2) * LegendRow;
            Element(w, "line", ("x1", x), ("y1", y), ("x2", x + 24), ("y2", y), ("stroke-width", 2));
            Element(w, "circle", ("cx", x + 12), ("cy", y), ("r", 3.5));
            w.WriteEndElement();
            Text(w, series.Label, x + 32, y + 4, anchor: "start");
        }
    }

    /// <summary>A text element at (x, y): y is its baseline, x its middle unless <paramref name="anchor"/> says otherwise.</summary>
    private static void Text(XmlWriter w, string text, double x, double y, string anchor = "middle", int size = 12, string? transform = null)
    {
        w.WriteStartElement("text");
        Attributes(w, ("x", x), ("y", y), ("text-anchor", anchor));
        if (size != 12)
            Attributes(w, ("font-size", size));
        if (transform is not null)
            Attributes(w, ("transform", transform));
        w.WriteString(XmlSafe(text));
        w.WriteEndElement();
    }

    private static void Element(XmlWriter w, string name, params (string Name, object Value)[] attributes)
    {
        w.WriteStartElement(name);
        Attributes(w, attributes);
        w.WriteEndElement();
    }

    private static void Attributes(XmlWriter w, params (string Name, object Value)[] attributes)
    {
        foreach (var (name, value) in attributes)
            w.WriteAttributeString(name, value is double d ? Number(d) : Convert.ToString(value, CultureInfo.InvariantCulture));
    }

    /// <summary>At most two decimals, invariant culture: "12.5", "300".</summary>
    private static string Number(double value) => Math.Round(value, 2).ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>Characters XML 1.0 cannot hold (control characters, lone surrogates: a file name may have them)
    /// become U+FFFD; XmlWriter escapes the rest (&lt;, &amp;, quotes).</summary>
    private static string XmlSafe(string text)
    {
        var safe = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            if (i + 1 < text.Length && XmlConvert.IsXmlSurrogatePair(text[i + 1], text[i]))
                safe.Append(text, i++, 2);
            else
                safe.Append(XmlConvert.IsXmlChar(text[i]) ? text[i] : '\uFFFD');
        }

        return safe.ToString();
    }
}
