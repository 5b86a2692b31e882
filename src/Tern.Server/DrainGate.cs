using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace Tern.Server;

/// <summary>
/// Graceful drain: once <see cref="DrainAsync"/> starts, new requests get 503 <c>server_draining</c> (and /health 503
/// <c>{"status":"draining"}</c>, so a router takes the replica out) while running ones finish; those still running at
/// the timeout are cut, and a cut stream ends with an error event (written by the error middleware), not a dropped
/// connection; a cut request that had sent nothing yet gets the 503 JSON error.
/// </summary>
internal sealed class DrainGate
{
    private readonly CancellationTokenSource _cut = new();
    private readonly object _lock = new();
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _running;

    public bool Draining { get; private set; }

    /// <summary>Requests running now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Middleware, inside the error middleware: admits the request unless draining, and counts it while it runs.</summary>
    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        bool admitted;
        lock (_lock)
        {
            admitted = !Draining;
            if (admitted)
                _running++;
        }

        if (!admitted)
        {
            await RefuseAsync(http);
            return;
        }

        var clientGone = http.RequestAborted;
        using var either = CancellationTokenSource.CreateLinkedTokenSource(clientGone, _cut.Token);
        http.RequestAborted = either.Token; // the routes and the engine stop on either
        try
        {
            await next(http);
        }
        catch (OperationCanceledException) when (_cut.IsCancellationRequested && !clientGone.IsCancellationRequested)
        {
            throw new ApiException(503, "the server is shutting down and stopped this request at its drain timeout; retry on another replica", code: "server_draining");
        }
        finally
        {
            http.RequestAborted = clientGone;
            lock (_lock)
            {
                if (--_running == 0 && Draining)
                    _idle.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Stops admitting requests and waits for the running ones to finish, at most <paramref name="timeout"/> or until
    /// <paramref name="cutNow"/> fires; then cancels those left and waits (at most 5 s) for them to write their last
    /// event. Returns how many were cut.
    /// </summary>
    public async Task<int> DrainAsync(TimeSpan timeout, CancellationToken cutNow)
    {
        lock (_lock)
        {
            Draining = true;
            if (_running == 0)
                _idle.TrySetResult();
        }

        var deadline = Task.Delay(timeout, cutNow);
        if (await Task.WhenAny(_idle.Task, deadline) == _idle.Task)
            return 0;
        int cut = Running;
        await _cut.CancelAsync();
        await Task.WhenAny(_idle.Task, Task.Delay(TimeSpan.FromSeconds(5))); // a request that ignores cancellation does not hold the exit
        return cut;
    }

    private static async Task RefuseAsync(HttpContext http)
    {
        // A client that keeps its connection would come back here: close it, so its retry connects afresh (to another replica).
        http.Response.OnStarting(() =>
        {
            http.Response.Headers.Connection = "close";
            return Task.CompletedTask;
        });
        if (http.Request.Path != "/health")
            throw new ApiException(503, "the server is shutting down (draining): retry on another replica", code: "server_draining");
        http.Response.StatusCode = 503;
        http.Response.ContentType = "application/json";
        await http.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(new { status = "draining" }));
    }
}

/// <summary>
/// The host's lifetime without ConsoleLifetime's signal handling: SIGTERM and Ctrl-C are `tern serve`'s to handle
/// (ShutdownSignals), which drains before the host stops, instead of stopping Kestrel at once.
/// </summary>
internal sealed class CallerLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
