using BenchmarkDotNet.Attributes;
using Tern.Kernels;

namespace Tern.Benchmarks;

/// <summary>The fixed cost of one <see cref="WorkerPool.Run{TJob}"/> with workers awake (spinning): what every matmul
/// of a decoding step pays on top of its arithmetic.</summary>
public class WorkerPoolBenchmarks
{
    private WorkerPool _pool = null!;

    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    public static IEnumerable<int> ThreadCounts => [Environment.ProcessorCount];

    [GlobalSetup]
    public void Setup() => _pool = new WorkerPool(Threads);

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    [Benchmark]
    public void EmptyRun()
    {
        var job = new EmptyJob();
        _pool.Run(ref job, 2 * Threads);
    }

    private struct EmptyJob : IParallelJob
    {
        public readonly void Execute(int index)
        {
        }
    }
}
