using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Benchmarks;

/// <summary>
/// The ceiling for the other GB/s numbers: summing 8 MB slices of 512 MB of memory (cold, as the weight copies are)
/// with one thread and with the whole pool, doing no other work.
/// </summary>
[Config(typeof(WeightBandwidthConfig))]
public unsafe class MemoryReadBenchmarks : IWeightTraffic
{
    private const int SliceBytes = 8 << 20;

    private BenchmarkWeights _memory = null!;
    private WorkerPool _pool = null!;

    [GlobalSetup]
    public void Setup()
    {
        // 8 MB "rows" of bytes: F32 with 2 Mi elements per row, one row per matrix.
        _memory = new BenchmarkWeights(QuantTypes.Get(GgmlType.F32), 1, SliceBytes / sizeof(float));
        _pool = new WorkerPool();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _memory.Dispose();
    }

    [Benchmark]
    public float OneThread() => Sum(_memory.Next(), SliceBytes);

    [Benchmark]
    public void AllThreads()
    {
        var job = new SumJob { Data = _memory.Next(), ChunkBytes = SliceBytes / 64 };
        _pool.Run(ref job, 64);
    }

    private static float Sum(byte* data, int bytes)
    {
        // Four independent sums, so add latency does not limit the read rate.
        var a = Vector256<float>.Zero;
        var b = Vector256<float>.Zero;
        var c = Vector256<float>.Zero;
        var d = Vector256<float>.Zero;
        var p = (float*)data;
        for (var i = 0; i < bytes / sizeof(float); i += 32)
        {
            a += Vector256.Load(p + i);
            b += Vector256.Load(p + i + 8);
            c += Vector256.Load(p + i + 16);
            d += Vector256.Load(p + i + 24);
        }

        return Vector256.Sum(a + b + c + d);
    }

    private struct SumJob : IParallelJob
    {
        public byte* Data;
        public int ChunkBytes;

        public readonly void Execute(int index) => Sum(Data + (long)index * ChunkBytes, ChunkBytes);
    }

    public long WeightBytes(BenchmarkCase benchmarkCase) => SliceBytes;
}
