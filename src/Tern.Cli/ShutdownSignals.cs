using System.Runtime.InteropServices;

namespace Tern.Cli;

/// <summary>
/// SIGTERM and Ctrl-C (SIGINT) while `tern serve` runs: the first asks for a graceful drain (<see cref="Stop"/>), the
/// second cuts it short (<see cref="Cut"/>: running requests end now, streams with their error event, and the models
/// are still unloaded), a third ends the process at once (the signal's default action).
/// </summary>
internal sealed class ShutdownSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _cut = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _count;

    public ShutdownSignals()
    {
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle), PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle)];
    }

    /// <summary>Fires on the first signal.</summary>
    public CancellationToken Stop => _stop.Token;

    /// <summary>Fires on the second.</summary>
    public CancellationToken Cut => _cut.Token;

    private void Handle(PosixSignalContext context)
    {
        int count = Interlocked.Increment(ref _count);
        if (count > 2)
            return;
        context.Cancel = true; // the process goes on: it exits when it has drained
        (count == 1 ? _stop : _cut).Cancel();
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
        _stop.Dispose();
        _cut.Dispose();
    }
}
