using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Tern.Gguf;
using Tern.Kernels;
using Tern.Kernels.Dot;

namespace Tern.Benchmarks;

/// <summary>
/// <see cref="MatMul.MultiplyRepacked"/> of a Q4_0 matrix repacked eight rows at a time, in both shapes of a
/// llama-1b feed-forward layer ([8192, 2048] up, [2048, 8192] down), on a pool of all processors; compare with the
/// Q4_0 row of <see cref="MatMulBenchmarks"/>. Cycles through copies larger than the cache, as decoding does.
/// </summary>
[Config(typeof(WeightBandwidthConfig))]
public unsafe class InterleavedMatMulBenchmarks : IWeightTraffic
{
    private BenchmarkWeights _weights = null!;
    private byte*[] _copies = [];
    private int _next;
    private WorkerPool _pool = null!;
    private MatMul _matmul = null!;
    private float[] _x = [];
    private float[] _y = [];

    [Params("2048x8192", "8192x2048")]
    public string Shape { get; set; } = "";

    [Params(1, 64)]
    public int Tokens { get; set; }

    private int Rows => int.Parse(Shape.Split('x')[0]);
    private int Cols => int.Parse(Shape.Split('x')[1]);

    [GlobalSetup]
    public void Setup()
    {
        _weights = new BenchmarkWeights(QuantTypes.Get(GgmlType.Q4_0), Rows, Cols);
        var bytes = InterleavedQ4_0.Bytes(Rows, Cols);
        var groupBytes = (int)(bytes / InterleavedQ4_0.Groups(Rows));
        _copies = new byte*[_weights.Copies];
        for (var i = 0; i < _copies.Length; i++)
        {
            var source = new ReadOnlySpan<byte>(_weights.Next(), (int)_weights.MatrixBytes);
            _copies[i] = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            for (var g = 0; g < InterleavedQ4_0.Groups(Rows); g++)
                InterleavedQ4_0.Repack(source, Rows, Cols, g, new Span<byte>(_copies[i] + (long)g * groupBytes, groupBytes));
        }

        _weights.Dispose();
        _pool = new WorkerPool(Environment.ProcessorCount);
        _matmul = new MatMul(_pool);
        _x = BenchmarkWeights.RandomFloats(Tokens * Cols, new Random(2)); // [tokens, cols]
        _y = new float[Tokens * Rows];                                     // [tokens, rows]
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        foreach (var copy in _copies)
            NativeMemory.AlignedFree(copy);
    }

    [Benchmark]
    public void Multiply()
    {
        var copy = _copies[_next];
        _next = _next + 1 == _copies.Length ? 0 : _next + 1;
        _matmul.MultiplyRepacked(QuantTypes.Get(GgmlType.Q4_0), copy, Rows, Cols, _x, _y);
    }

    public long WeightBytes(BenchmarkCase benchmarkCase) => InterleavedQ4_0.Bytes(Dims(benchmarkCase).Rows, Dims(benchmarkCase).Cols);

    public long MultiplyAdds(BenchmarkCase benchmarkCase) =>
        (long)Dims(benchmarkCase).Rows * Dims(benchmarkCase).Cols * (int)benchmarkCase.Parameters[nameof(Tokens)];

    private static (int Rows, int Cols) Dims(BenchmarkCase benchmarkCase)
    {
        var parts = ((string)benchmarkCase.Parameters[nameof(Shape)]).Split('x');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }
}
