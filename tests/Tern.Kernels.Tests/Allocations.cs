namespace Tern.Kernels.Tests;

/// <summary>Measures what a hot path allocates on the calling thread once it is warm.</summary>
internal static class Allocations
{
    // Past tiered compilation's call-counting threshold (30 calls), whose promotion can allocate on the calling
    // thread: one warm-up call left it inside the measured loop, and such tests failed now and then.
    private const int WarmUpCalls = 200;

    /// <summary>Bytes allocated on this thread by <paramref name="measured"/> calls of <paramref name="call"/>(i),
    /// after <see cref="WarmUpCalls"/> unmeasured ones.</summary>
    public static long AfterWarmUp(Action<int> call, int measured)
    {
        for (var i = 0; i < WarmUpCalls; i++)
            call(i);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < measured; i++)
            call(i);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
