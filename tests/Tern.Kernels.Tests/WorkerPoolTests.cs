using System.Diagnostics;
using Tern.Kernels;

namespace Tern.Kernels.Tests;

public sealed class WorkerPoolTests
{
    private struct CountingJob(int[] hits, int[] threadIds, int sleepMs) : IParallelJob
    {
        public readonly void Execute(int index)
        {
            Interlocked.Increment(ref hits[index]);
            threadIds[index] = Environment.CurrentManagedThreadId;
            if (sleepMs > 0)
                Thread.Sleep(sleepMs);
        }
    }

    private struct ThrowingJob(int throwAt, int callerThread, bool onlyOnWorker) : IParallelJob
    {
        public readonly void Execute(int index)
        {
            if (onlyOnWorker)
            {
                Thread.Sleep(1); // slow enough that the worker surely takes some indices
                if (Environment.CurrentManagedThreadId != callerThread)
                    throw new InvalidDataException($"failed at {index}");
            }
            else if (index == throwAt)
            {
                throw new InvalidDataException($"failed at {index}");
            }
        }
    }

    private ref struct SpanJob(Span<long> output) : IParallelJob
    {
        private readonly Span<long> _output = output;

        public readonly void Execute(int index) => _output[index] = (long)index * index;
    }

    private struct NestedJob(WorkerPool pool) : IParallelJob
    {
        public readonly void Execute(int index)
        {
            var inner = new CountingJob(new int[2], new int[2], 0);
            pool.Run(ref inner, 2);
        }
    }

    [Theory]
    [InlineData(1, 1000)]
    [InlineData(2, 1000)]
    [InlineData(4, 1000)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    public void Run_executes_every_index_exactly_once(int threads, int count)
    {
        using var pool = new WorkerPool(threads);
        var hits = new int[count];
        var job = new CountingJob(hits, new int[count], 0);

        pool.Run(ref job, count);

        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void Consecutive_runs_each_execute_every_index_exactly_once()
    {
        using var pool = new WorkerPool(3);
        var random = new Random(1);
        for (var run = 0; run < 3000; run++)
        {
            var count = random.Next(0, 40);
            var hits = new int[count];
            var job = new CountingJob(hits, new int[count], 0);
            pool.Run(ref job, count);
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void Runs_after_the_workers_went_to_sleep_still_complete()
    {
        using var pool = new WorkerPool(3, spinWait: TimeSpan.Zero);
        for (var run = 0; run < 50; run++)
        {
            var hits = new int[16];
            var job = new CountingJob(hits, new int[16], 0);
            pool.Run(ref job, hits.Length);
            Assert.All(hits, h => Assert.Equal(1, h));
            if (run % 10 == 0)
                Thread.Sleep(5);
        }
    }

    [Fact]
    public void Work_is_shared_between_caller_and_worker_threads()
    {
        using var pool = new WorkerPool(2);
        var ids = new int[40];
        var job = new CountingJob(new int[40], ids, sleepMs: 2);

        pool.Run(ref job, ids.Length);

        Assert.Contains(Environment.CurrentManagedThreadId, ids);
        Assert.Equal(2, ids.Distinct().Count());
    }

    [Fact]
    public void Pool_with_one_thread_runs_everything_on_the_caller()
    {
        using var pool = new WorkerPool(1);
        var hits = new int[100];
        var ids = new int[100];
        var job = new CountingJob(hits, ids, 0);

        pool.Run(ref job, hits.Length);

        Assert.Equal(1, pool.ThreadCount);
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.All(ids, id => Assert.Equal(Environment.CurrentManagedThreadId, id));
    }

    [Fact]
    public void Default_thread_count_is_the_processor_count()
    {
        using var pool = new WorkerPool();
        Assert.Equal(Environment.ProcessorCount, pool.ThreadCount);
    }

    [Fact]
    public void Exception_thrown_on_a_worker_thread_reaches_the_caller()
    {
        using var pool = new WorkerPool(2);
        var job = new ThrowingJob(-1, Environment.CurrentManagedThreadId, onlyOnWorker: true);

        var e = Assert.Throws<InvalidDataException>(() => pool.Run(ref job, 50));
        Assert.StartsWith("failed at", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Exception_in_a_job_reaches_the_caller_and_the_pool_keeps_working(int threads)
    {
        using var pool = new WorkerPool(threads);
        var failing = new ThrowingJob(17, Environment.CurrentManagedThreadId, onlyOnWorker: false);

        var e = Assert.Throws<InvalidDataException>(() => pool.Run(ref failing, 100));
        Assert.Equal("failed at 17", e.Message);

        var hits = new int[100];
        var job = new CountingJob(hits, new int[100], 0);
        pool.Run(ref job, hits.Length);
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void Ref_struct_job_can_write_through_a_span()
    {
        using var pool = new WorkerPool(2);
        Span<long> squares = stackalloc long[300];
        var job = new SpanJob(squares);

        pool.Run(ref job, squares.Length);

        for (var i = 0; i < squares.Length; i++)
            Assert.Equal((long)i * i, squares[i]);
    }

    [Fact]
    public async Task Callers_on_several_threads_take_turns()
    {
        // The models a server has loaded share one pool: their engines' threads call Run at the same time.
        using var pool = new WorkerPool(2, TimeSpan.Zero);
        var callers = Enumerable.Range(1, 4).Select(c => Task.Run(() =>
        {
            var squares = new long[257];
            for (var round = 0; round < 200; round++)
            {
                Array.Clear(squares);
                var job = new SquaresJob(squares, c);
                pool.Run(ref job, squares.Length);
                for (var i = 0; i < squares.Length; i++)
                    Assert.Equal((long)c * i * i, squares[i]);
            }
        })).ToArray();

        await Task.WhenAll(callers);
        Assert.Equal(4 * 200, pool.Jobs);
    }

    private readonly struct SquaresJob(long[] squares, int factor) : IParallelJob
    {
        public void Execute(int index) => squares[index] = (long)factor * index * index;
    }

    [Fact]
    public void Run_from_inside_a_job_is_rejected()
    {
        using var pool = new WorkerPool(2);
        var job = new NestedJob(pool);

        Assert.Throws<InvalidOperationException>(() => pool.Run(ref job, 4));
    }

    [Fact]
    public void Run_allocates_nothing_on_the_calling_thread()
    {
        using var pool = new WorkerPool(2);
        var hits = new int[64];
        var job = new CountingJob(hits, new int[64], 0);
        var allocated = Allocations.AfterWarmUp(_ => pool.Run(ref job, hits.Length), 100);

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Idle_workers_stop_spinning_and_block()
    {
        using var pool = new WorkerPool(3, spinWait: TimeSpan.FromMilliseconds(1));
        var hits = new int[8];
        var job = new CountingJob(hits, new int[8], 0);
        pool.Run(ref job, hits.Length);

        var waited = Stopwatch.StartNew();
        while (pool.SleepingWorkers < 2 && waited.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(5);

        Assert.Equal(2, pool.SleepingWorkers);
        pool.Run(ref job, hits.Length); // and they wake up for the next job
        Assert.All(hits, h => Assert.Equal(2, h));
    }

    [Fact]
    public void Dispose_stops_the_pool_and_can_be_repeated()
    {
        var pool = new WorkerPool(3);
        var hits = new int[10];
        var job = new CountingJob(hits, new int[10], 0);
        pool.Run(ref job, hits.Length);

        pool.Dispose();
        pool.Dispose();

        Assert.Throws<ObjectDisposedException>(() => pool.Run(ref job, hits.Length));
    }
}
