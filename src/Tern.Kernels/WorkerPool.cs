using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Tern.Kernels;

/// <summary>One unit of parallel work: <see cref="Execute"/> runs once for every index of a <see cref="WorkerPool.Run{TJob}"/> call.</summary>
/// <remarks>
/// Indices run concurrently on different threads, so <see cref="Execute"/> must treat the job's own fields as
/// read-only and write only to disjoint parts of the memory it refers to.
/// </remarks>
public interface IParallelJob
{
    void Execute(int index);
}

/// <summary>
/// Persistent worker threads that run "every index of [0, count)" jobs, with the calling thread taking part.
/// </summary>
/// <remarks>
/// A forward pass runs hundreds of short matmuls per token, far too short for <c>Parallel.For</c> or a task each.
/// Workers therefore wait for the next job by spinning on a generation counter for a short while and only then
/// fall back to a blocking wait (so an idle pool costs no CPU); indices are handed out by an atomic counter (a
/// descheduled thread on a shared machine does not hold up the others), and the call ends at an atomic barrier.
/// <see cref="Run{TJob}"/> allocates nothing: the job is a struct (it may be a ref struct holding spans) that the
/// workers reach through a pointer to the caller's stack and a static function pointer.
/// A pool runs one job at a time: several threads may call <see cref="Run{TJob}"/> (the models a server has
/// loaded share one pool), and their jobs take turns. It is not re-entrant: a job must not call it.
/// </remarks>
public sealed unsafe class WorkerPool : IDisposable
{
    private static readonly long DefaultSpinTicks = Stopwatch.Frequency / 10_000; // 100 µs

    private readonly Thread[] _threads;
    private readonly long _spinTicks;
    private readonly object _gate = new();
    private readonly object _turn = new(); // held by the caller whose job runs

    [ThreadStatic]
    private static WorkerPool? t_workerOf; // the pool a worker thread belongs to

    // The job being run; written by the caller before it bumps the generation, read by workers after.
    private void* _job;
    private delegate*<void*, int, void> _invoke;
    private int _count;
    private Exception? _failure;

    private PaddedCounter _generation;   // bumped once per job (and once on Dispose)
    private PaddedCounter _nextIndex;    // next index to hand out
    private PaddedCounter _running;      // workers still inside the current job
    private int _sleepingWorkers;        // workers blocked in Monitor.Wait (or about to be)
    private int _callerSleeping;
    private long _jobs;
    private volatile bool _disposed;

    /// <summary>The threads a pool asked for <paramref name="threadCount"/> runs: 0 means <see cref="Environment.ProcessorCount"/>.</summary>
    public static int Threads(int threadCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threadCount);
        return threadCount == 0 ? Environment.ProcessorCount : threadCount;
    }

    /// <summary>Creates a pool of <paramref name="threadCount"/> threads in all, the caller of <see cref="Run{TJob}"/>
    /// included (so threadCount − 1 background threads are started). 0 means <see cref="Environment.ProcessorCount"/>.</summary>
    /// <param name="spinWait">How long an idle thread spins before blocking; default 100 µs.</param>
    public WorkerPool(int threadCount = 0, TimeSpan? spinWait = null)
    {
        ThreadCount = threadCount = Threads(threadCount);
        _spinTicks = spinWait is { } s ? (long)(s.TotalSeconds * Stopwatch.Frequency) : DefaultSpinTicks;

        _threads = new Thread[threadCount - 1];
        for (var i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop, maxStackSize: 1 << 20)
            {
                IsBackground = true,
                Name = $"Tern worker {i + 1}",
            };
            _threads[i].Start();
        }
    }

    /// <summary>Threads that run a job, the calling thread included.</summary>
    public int ThreadCount { get; }

    /// <summary>Background threads currently blocked waiting for work (past their spin phase).</summary>
    public int SleepingWorkers => Volatile.Read(ref _sleepingWorkers);

    /// <summary>Jobs touching less memory than this run on the calling thread: waking the pool costs more than
    /// they take (a 1 MB job is ~50 µs of memory traffic; a wake-up on a busy machine can cost a scheduler tick).</summary>
    public const long InlineBelowBytes = 1 << 20;

    /// <summary>Jobs run so far (pooled or inline): how many passes a forward pass makes, for tests of its structure.</summary>
    public long Jobs => Interlocked.Read(ref _jobs);

    /// <summary>As <see cref="Run{TJob}(ref TJob, int)"/>, but runs on the calling thread alone when the job reads
    /// fewer than <see cref="InlineBelowBytes"/> bytes in all (<paramref name="workBytes"/>).</summary>
    public void Run<TJob>(ref TJob job, int count, long workBytes) where TJob : struct, IParallelJob, allows ref struct
    {
        if (workBytes >= InlineBelowBytes)
        {
            Run(ref job, count);
            return;
        }

        Interlocked.Increment(ref _jobs);
        for (var i = 0; i < count; i++)
            job.Execute(i);
    }

    /// <summary>Calls <c>job.Execute(i)</c> once for every i in [0, <paramref name="count"/>), spread over the pool's
    /// threads and the calling thread; returns when all have finished. The first exception thrown by any
    /// <c>Execute</c> is rethrown here (remaining indices are skipped). A call while another thread's job runs waits
    /// for it to finish.</summary>
    public void Run<TJob>(ref TJob job, int count) where TJob : struct, IParallelJob, allows ref struct
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Interlocked.Increment(ref _jobs);
        if (count == 0)
            return;
        if (Monitor.IsEntered(_turn) || t_workerOf == this)
            throw new InvalidOperationException("WorkerPool.Run was called from inside a job.");
        lock (_turn)
        {
            if (_threads.Length == 0 || count == 1)
            {
                for (var i = 0; i < count; i++)
                    job.Execute(i);
                return;
            }

            // Workers read the job through a pointer: copy it to this frame's stack, which the GC never moves.
            var local = job;
            _job = Unsafe.AsPointer(ref local);
            _invoke = &InvokeJob<TJob>;
            _count = count;
            _failure = null;
            _nextIndex.Value = 0;
            _running.Value = _threads.Length;
            Interlocked.Increment(ref _generation.Value); // publishes the fields above
            if (Volatile.Read(ref _sleepingWorkers) > 0)
            {
                lock (_gate)
                    Monitor.PulseAll(_gate);
            }

            RunIndices();
            WaitForWorkers();
            _job = null;

            if (_failure is { } failure)
            {
                _failure = null;
                ExceptionDispatchInfo.Throw(failure);
            }
        }
    }

    private static void InvokeJob<TJob>(void* job, int index) where TJob : struct, IParallelJob, allows ref struct =>
        Unsafe.AsRef<TJob>(job).Execute(index);

    private void RunIndices()
    {
        var count = _count;
        var invoke = _invoke;
        var job = _job;
        try
        {
            long i;
            while ((i = Interlocked.Increment(ref _nextIndex.Value) - 1) < count)
                invoke(job, (int)i);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, e, null);
            Volatile.Write(ref _nextIndex.Value, count); // hand out nothing more
        }
    }

    private void WaitForWorkers()
    {
        var start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref _running.Value) != 0)
        {
            if (Stopwatch.GetTimestamp() - start < _spinTicks)
            {
                Thread.SpinWait(4);
                continue;
            }

            lock (_gate)
            {
                Interlocked.Exchange(ref _callerSleeping, 1);
                while (Volatile.Read(ref _running.Value) != 0)
                    Monitor.Wait(_gate);
                Volatile.Write(ref _callerSleeping, 0);
            }
        }
    }

    private void WorkerLoop()
    {
        t_workerOf = this;
        // Not the current value: the first job may have been published before this thread got to run.
        long seen = 0;
        while (true)
        {
            seen = WaitForGeneration(seen);
            if (_disposed)
                return;

            RunIndices();

            if (Interlocked.Decrement(ref _running.Value) == 0 && Volatile.Read(ref _callerSleeping) != 0)
            {
                lock (_gate)
                    Monitor.PulseAll(_gate);
            }
        }
    }

    private long WaitForGeneration(long seen)
    {
        var start = Stopwatch.GetTimestamp();
        long current;
        while ((current = Volatile.Read(ref _generation.Value)) == seen)
        {
            if (Stopwatch.GetTimestamp() - start < _spinTicks)
            {
                Thread.SpinWait(4);
                continue;
            }

            lock (_gate)
            {
                // Announce sleeping before the last check: Run bumps the generation, then looks at the sleeper
                // count, so either it sees us and pulses, or we see the new generation here.
                Interlocked.Increment(ref _sleepingWorkers);
                while ((current = Volatile.Read(ref _generation.Value)) == seen)
                    Monitor.Wait(_gate);
                Interlocked.Decrement(ref _sleepingWorkers);
            }

            return current;
        }

        return current;
    }

    /// <summary>Stops and joins the worker threads. Must not be called while <see cref="Run{TJob}"/> is running.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Interlocked.Increment(ref _generation.Value);
        lock (_gate)
            Monitor.PulseAll(_gate);
        foreach (var thread in _threads)
            thread.Join();
    }

    // Each counter on its own cache line, so spinning readers don't share a line with the index counter.
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedCounter
    {
        [FieldOffset(64)]
        public long Value;
    }
}
