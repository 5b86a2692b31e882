using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Benchmarks;

/// <summary>
/// One thread, one weight type: dot products of every row of a [2048, 8192] matrix with one quantized activation row,
/// cycling through copies of the matrix larger than the cache (so weights come from DRAM, as in decoding).
/// </summary>
[Config(typeof(WeightBandwidthConfig))]
public unsafe class DotBenchmarks : IWeightTraffic
{
    private const int Rows = 2048;
    private const int Cols = 8192;

    private BenchmarkWeights _weights = null!;
    private byte[] _activation = [];
    private DotRow _dot = null!;
    private DotRow _dotScalar = null!;
    private float[] _output = new float[Rows];

    [ParamsSource(nameof(Types))]
    public GgmlType Type { get; set; }

    public static IEnumerable<GgmlType> Types => BenchmarkWeights.TypesWithDot();

    [GlobalSetup]
    public void Setup()
    {
        var q = QuantTypes.Get(Type);
        _weights = new BenchmarkWeights(q, Rows, Cols);
        var activation = QuantTypes.Get(q.DotActivation);
        _activation = new byte[activation.RowBytes(Cols)];
        activation.FromFloat!(BenchmarkWeights.RandomFloats(Cols, new Random(2)), _activation);
        _dot = q.Dot!;
        _dotScalar = q.DotScalar ?? q.Dot!;
    }

    [GlobalCleanup]
    public void Cleanup() => _weights.Dispose();

    [Benchmark]
    public float Dot() => RunRows(_dot);

    [Benchmark]
    public float Scalar() => RunRows(_dotScalar);

    private float RunRows(DotRow dot)
    {
        var w = _weights.Next();
        var rowBytes = (int)_weights.RowBytes;
        var sum = 0f;
        for (var r = 0; r < Rows; r++)
        {
            _output[r] = dot(new ReadOnlySpan<byte>(w + (long)r * rowBytes, rowBytes), _activation);
            sum += _output[r];
        }

        return sum;
    }

    public long WeightBytes(BenchmarkCase benchmarkCase) =>
        QuantTypes.Get((GgmlType)benchmarkCase.Parameters[nameof(Type)]).RowBytes(Cols) * Rows;
}
