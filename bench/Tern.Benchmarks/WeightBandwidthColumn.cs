using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Tern.Benchmarks;

/// <summary>A benchmark class that knows how much weight data one invocation reads (and how many multiply-adds it does).</summary>
public interface IWeightTraffic
{
    /// <summary>Bytes of weights (or other input being streamed) one invocation reads, for the given parameters.</summary>
    long WeightBytes(BenchmarkCase benchmarkCase);

    /// <summary>Multiply-adds one invocation performs; 0 when the column does not apply.</summary>
    long MultiplyAdds(BenchmarkCase benchmarkCase) => 0;
}

/// <summary>Adds "GB/s" (weight bytes read ÷ mean time) and "GMAC/s" columns to the summary table.</summary>
public sealed class WeightBandwidthConfig : ManualConfig
{
    public WeightBandwidthConfig()
    {
        AddColumn(new ThroughputColumn("GB/s", "Weight bytes read per second, in 10^9 bytes (bytes of weights / mean time)", (t, c) => t.WeightBytes(c)));
        AddColumn(new ThroughputColumn("GMAC/s", "Multiply-adds per second, in 10^9 (matrix × matrix)", (t, c) => t.MultiplyAdds(c)));
    }
}

/// <summary>Some quantity per invocation divided by the mean time: per nanosecond is 10^9 per second.</summary>
public sealed class ThroughputColumn(string name, string legend, Func<IWeightTraffic, BenchmarkCase, long> perInvocation) : IColumn
{
    public string Id => nameof(ThroughputColumn) + "." + name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => legend;

    public bool IsAvailable(Summary summary) =>
        summary.BenchmarksCases.Any(c => Amount(c) > 0);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var amount = Amount(benchmarkCase);
        var meanNanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (amount <= 0 || meanNanoseconds is not > 0)
            return "-";
        return (amount / meanNanoseconds.Value).ToString("0.00", style.CultureInfo);
    }

    private long Amount(BenchmarkCase benchmarkCase) =>
        Activator.CreateInstance(benchmarkCase.Descriptor.Type) is IWeightTraffic traffic ? perInvocation(traffic, benchmarkCase) : 0;

    public override string ToString() => ColumnName;
}
