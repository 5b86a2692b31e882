using System.Globalization;
using System.Text;

namespace Tern.Cli.Soak;

/// <summary>One sample of a Prometheus text exposition: <c>name{label="value",...} value</c>.</summary>
internal sealed record MetricSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Reads the Prometheus text format (version 0.0.4) as /metrics serves it: comments skipped, labels unescaped.</summary>
internal static class PrometheusText
{
    /// <summary>The samples of <paramref name="text"/>; a line that does not parse is skipped.</summary>
    public static IReadOnlyList<MetricSample> Parse(string text)
    {
        var samples = new List<MetricSample>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r').Trim();
            if (line.Length > 0 && line[0] != '#' && Sample(line) is { } sample)
                samples.Add(sample);
        }

        return samples;
    }

    /// <summary>
    /// The value of <paramref name="name"/>, for <paramref name="model"/> when given (its <c>model_name</c> label, or
    /// a sample without one: Tern's own lines are per model already); null when absent.
    /// </summary>
    public static double? Find(IEnumerable<MetricSample> samples, string name, string? model = null) =>
        samples.FirstOrDefault(s => s.Name == name
            && (model is null || !s.Labels.TryGetValue("model_name", out var m) || m == model))?.Value;

    private static MetricSample? Sample(string line)
    {
        int i = 0;
        while (i < line.Length && line[i] != '{' && !char.IsWhiteSpace(line[i]))
            i++;
        string name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i = Labels(line, i + 1, labels);
            if (i < 0)
                return null;
        }

        string[] rest = line[i..].Split(' ', StringSplitOptions.RemoveEmptyEntries); // value [timestamp]
        return name.Length > 0 && rest.Length > 0 && Number(rest[0]) is { } value ? new MetricSample(name, labels, value) : null;
    }

    /// <summary>Reads <c>a="x",b="y"}</c> from <paramref name="i"/>; returns the index after the brace, or -1.</summary>
    private static int Labels(string line, int i, Dictionary<string, string> labels)
    {
        while (i < line.Length)
        {
            while (i < line.Length && line[i] is ' ' or ',')
                i++;
            if (i < line.Length && line[i] == '}')
                return i + 1;
            int eq = line.IndexOf('=', i);
            if (eq < 0 || eq + 1 >= line.Length || line[eq + 1] != '"')
                return -1;
            string key = line[i..eq].Trim();
            var value = new StringBuilder();
            i = eq + 2;
            for (; i < line.Length && line[i] != '"'; i++)
            {
                if (line[i] == '\\' && i + 1 < line.Length)
                {
                    i++;
                    value.Append(line[i] == 'n' ? '\n' : line[i]);
                }
                else
                {
                    value.Append(line[i]);
                }
            }

            if (i >= line.Length)
                return -1;
            labels[key] = value.ToString();
            i++;
        }

        return -1;
    }

    private static double? Number(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : null,
    };
}
