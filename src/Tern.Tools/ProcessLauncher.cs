using System.Collections.Concurrent;
using System.Diagnostics;

namespace Tern.Tools;

/// <summary>
/// Starts processes from one long-lived thread. bubblewrap's <c>--die-with-parent</c> uses PR_SET_PDEATHSIG, which
/// fires when the <em>thread</em> that forked the process exits, not the process; started from a thread-pool thread
/// that later retires, a sandbox would be killed in the middle of a command. This thread lives as long as the server.
/// </summary>
internal static class ProcessLauncher
{
    private static readonly BlockingCollection<(Process Process, TaskCompletionSource Started)> Queue = [];
    private static readonly Lazy<Thread> Launcher = new(StartThread, LazyThreadSafetyMode.ExecutionAndPublication);

    public static Task StartAsync(Process process)
    {
        _ = Launcher.Value;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Queue.Add((process, started));
        return started.Task;
    }

    private static Thread StartThread()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "Tern tool process launcher" };
        thread.Start();
        return thread;
    }

    private static void Run()
    {
        foreach (var (process, started) in Queue.GetConsumingEnumerable())
        {
            try
            {
                process.Start();
                started.SetResult();
            }
            catch (Exception e)
            {
                started.SetException(e);
            }
        }
    }
}
