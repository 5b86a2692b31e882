using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Benchmarks;

/// <summary>
/// F16 → F32 conversion of 1 Mi values (2 MB in, 4 MB out: cache-resident, so this measures the conversion, not
/// DRAM): <see cref="HalfConversion"/>'s vector and scalar rows and the kernel table's F16 dequantizer, against a plain
/// <see cref="Half"/> cast loop and a 65,536-entry table.
/// </summary>
[Config(typeof(WeightBandwidthConfig))]
public class HalfConversionBenchmarks : IWeightTraffic
{
    private const int Count = 1 << 20;

    private readonly ushort[] _halves = new ushort[Count];
    private readonly byte[] _bytes = new byte[Count * 2];
    private readonly float[] _output = new float[Count];
    private readonly float[] _lookup = new float[65536];
    private DequantizeRow _toFloat = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        for (var i = 0; i < Count; i++)
            _halves[i] = BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 8 - 4));
        Buffer.BlockCopy(_halves, 0, _bytes, 0, _bytes.Length);
        for (var i = 0; i < _lookup.Length; i++)
            _lookup[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        _toFloat = QuantTypes.Get(GgmlType.F16).ToFloat;
    }

    [Benchmark(Baseline = true)]
    public void HalfCast()
    {
        var halves = _halves;
        var output = _output;
        for (var i = 0; i < halves.Length; i++)
            output[i] = (float)BitConverter.UInt16BitsToHalf(halves[i]);
    }

    [Benchmark]
    public void LookupTable()
    {
        var halves = _halves;
        var output = _output;
        var lookup = _lookup;
        for (var i = 0; i < halves.Length; i++)
            output[i] = lookup[halves[i]];
    }

    [Benchmark]
    public void VectorRow() => HalfConversion.ToSingle(MemoryMarshal.Cast<ushort, Half>(_halves), _output);

    [Benchmark]
    public void ScalarRow() => HalfConversion.ToSingleScalar(MemoryMarshal.Cast<ushort, Half>(_halves), _output);

    /// <summary>The F16 row of the kernel table (what MatMul.Reference and dequantizing callers use).</summary>
    [Benchmark]
    public void TableDequantize() => _toFloat(_bytes, _output);

    public long WeightBytes(BenchmarkCase benchmarkCase) => Count * 2L;
}
