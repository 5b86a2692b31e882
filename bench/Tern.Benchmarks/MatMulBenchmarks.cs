using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Benchmarks;

/// <summary>
/// <see cref="MatMul"/> of a [2048, 8192] weight matrix with 1 token (matrix × vector, decoding) or 64 tokens
/// (matrix × matrix, prompt processing), on a pool of all processors; the time includes quantizing the activations.
/// Cycles through copies of the weights larger than the cache, so they come from DRAM.
/// </summary>
[Config(typeof(WeightBandwidthConfig))]
public unsafe class MatMulBenchmarks : IWeightTraffic
{
    private const int Rows = 2048;
    private const int Cols = 8192;

    private BenchmarkWeights _weights = null!;
    private WorkerPool _pool = null!;
    private MatMul _matmul = null!;
    private float[] _x = [];
    private float[] _y = [];

    [ParamsSource(nameof(Types))]
    public GgmlType Type { get; set; }

    [Params(1, 64)]
    public int Tokens { get; set; }

    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    public static IEnumerable<GgmlType> Types => BenchmarkWeights.TypesWithDot();

    public static IEnumerable<int> ThreadCounts => [Environment.ProcessorCount];

    [GlobalSetup]
    public void Setup()
    {
        _weights = new BenchmarkWeights(QuantTypes.Get(Type), Rows, Cols);
        _pool = new WorkerPool(Threads);
        _matmul = new MatMul(_pool);
        _x = BenchmarkWeights.RandomFloats(Tokens * Cols, new Random(2)); // [tokens, cols]
        _y = new float[Tokens * Rows];                                     // [tokens, rows]
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _weights.Dispose();
    }

    [Benchmark]
    public void Multiply() => _matmul.Multiply(_weights.Type, _weights.Next(), Rows, Cols, _x, _y);

    public long WeightBytes(BenchmarkCase benchmarkCase) =>
        QuantTypes.Get((GgmlType)benchmarkCase.Parameters[nameof(Type)]).RowBytes(Cols) * Rows;

    public long MultiplyAdds(BenchmarkCase benchmarkCase) =>
        (long)Rows * Cols * (int)benchmarkCase.Parameters[nameof(Tokens)];
}
