using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace Tern.Server;

/// <summary>
/// Graceful drain: once <see cref="DrainAsync"/> starts, new requests get 503 <c>server_draining</c> (and /health 503
/// <c>{"status":"draining"}</c>, so a router takes the replica out) while running ones finish; those still running at
/// the timeout are cut, and a cut stream ends with an error event (written by the error middleware), not a dropped connection.
/// </summary>
internal sealed class DrainGate
{
    private readonly CancellationTokenSource _cut = new();
    private readonly object _lock = new();
    private TaskCompletionSource? _idle;
    private int _running;

    public bool Draining { get; private set; }

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
        http.RequestAborted = either.Token;
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
                if (--_running == 0)
                    _idle?.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Stops admitting requests and waits for the running ones to finish, at most <paramref name="timeout"/>; then
    /// cancels those left and waits for them to write their last event.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        Task idle;
        lock (_lock)
        {
            Draining = true;
            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_running == 0)
                _idle.TrySetResult();
            idle = _idle.Task;
        }

        if (await Task.WhenAny(idle, Task.Delay(timeout)) != idle)
        {
            await _cut.CancelAsync();
            await Task.WhenAny(idle, Task.Delay(TimeSpan.FromSeconds(5))); // a request that ignores cancellation does not hold the exit
        }
    }

    private static async Task RefuseAsync(HttpContext http)
    {
        if (http.Request.Path == "/health")
        {
            http.Response.StatusCode = 503;
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(new { status = "draining" }));
            return;
        }

        http.Response.Headers.Connection = "close";
        throw new ApiException(503, "the server is shutting down (draining): retry on another replica", code: "server_draining");
    }
}

/// <summary>
/// The host's lifetime without ConsoleLifetime's signal handling: SIGTERM and Ctrl-C reach the caller's cancellation
/// token (ServeCommand), which drains before the host stops, instead of stopping Kestrel at once.
/// </summary>
internal sealed class CallerLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
