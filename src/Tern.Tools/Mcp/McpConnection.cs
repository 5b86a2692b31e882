using System.Text;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Tern.Tools.Mcp;

/// <summary>
/// Tern's client of one MCP server (the official SDK's <see cref="McpClient"/>): starts it (a stdio server in the
/// sandbox, see <see cref="McpProcess"/>; an HTTP server by URL with its headers), lists its tools once, and runs
/// calls with the call timeout. A server that dies, hangs past the timeout or floods its stdout is killed; the call
/// that saw it fails with an error result, and the next call starts it again after a pause that doubles each time.
/// After <see cref="McpOptions.MaxRestarts"/> restarts in a row without a good call it is disabled (a log line says
/// so) and its tools answer with an error. Thread-safe; calls run concurrently.
/// </summary>
public sealed class McpConnection : IAsyncDisposable
{
    private readonly McpServerConfig _config;
    private readonly McpOptions _options;
    private readonly Sandbox _sandbox;
    private readonly string _workspace;
    private readonly Action<string> _log;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Session? _session;
    private int _failures;
    private DateTime _nextStart;
    private string? _disabled;

    internal McpConnection(McpServerConfig config, McpOptions options, Sandbox sandbox, string workspace, Action<string> log)
    {
        _config = config;
        _options = options;
        _sandbox = sandbox;
        _workspace = workspace;
        _log = log;
    }

    public string Name => _config.Name;

    /// <summary>Why the server was disabled, or null while it may still run.</summary>
    public string? DisabledReason => _disabled;

    /// <summary>Starts the server and lists its tools; throws with a readable message when it cannot.</summary>
    internal async Task<IList<ModelContextProtocol.Protocol.Tool>> StartAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var session = await OpenAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.StartTimeout);
                var listed = await session.Client.ListToolsAsync(cancellationToken: timeout.Token).ConfigureAwait(false);
                _session = session;
                return [.. listed.Select(t => t.ProtocolTool)];
            }
            catch
            {
                await session.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Calls <paramref name="tool"/> (the server's own name for it); never throws but for the caller's cancellation.</summary>
    public async Task<ToolResult> CallAsync(string tool, JsonElement arguments, CancellationToken cancellationToken)
    {
        var (session, error) = await EnsureRunningAsync(cancellationToken).ConfigureAwait(false);
        if (session is null)
        {
            return ToolResult.Failure(error!);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.CallTimeout);
        var request = new CallToolRequestParams
        {
            Name = tool,
            Arguments = arguments.ValueKind == JsonValueKind.Object ? arguments.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()) : null,
        };
        try
        {
            var result = await session.Client.CallToolAsync(request, timeout.Token).ConfigureAwait(false);
            Interlocked.Exchange(ref _failures, 0);
            return Render(result);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            string reason = $"did not answer within {_options.CallTimeout.TotalSeconds:0.###} s";
            session.Process?.Kill(reason);
            return ToolResult.Failure($"the MCP server {Name} {await FailAsync(session, reason).ConfigureAwait(false)}");
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            // A JSON-RPC error (unknown tool, bad arguments) comes from a live server; a closed pipe from a dead one.
            bool answered = e is McpProtocolException;
            if (session.Process is { } process && !await process.WaitForExitAsync(TimeSpan.FromMilliseconds(answered ? 100 : 1000)).ConfigureAwait(false))
            {
                return ToolResult.Failure($"the MCP server {Name} {(answered ? "refused" : "failed")} the call: {e.Message}");
            }

            if (session.Process is null && answered)
            {
                return ToolResult.Failure($"the MCP server {Name} refused the call: {e.Message}");
            }

            string reason = session.Process?.DescribeExit() ?? $"cannot be reached: {e.Message}";
            return ToolResult.Failure($"the MCP server {Name} {await FailAsync(session, reason).ConfigureAwait(false)}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_session is not null)
            {
                await _session.DisposeAsync().ConfigureAwait(false);
                _session = null;
            }

            _disabled ??= "Tern is shutting down";
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The running session, restarting the server (after its pause) when it died; or why there is none.</summary>
    private async Task<(Session? Session, string? Error)> EnsureRunningAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_session is { Process: { HasExited: true } process } dead)
            {
                await FailLockedAsync(dead, process.DescribeExit()).ConfigureAwait(false);
            }

            if (_disabled is not null)
            {
                return (null, $"the MCP server {Name} is disabled ({_disabled})");
            }

            if (_session is not null)
            {
                return (_session, null);
            }

            var pause = _nextStart - DateTime.UtcNow;
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                _session = await OpenAsync(cancellationToken).ConfigureAwait(false);
                _log($"mcp {Name}: restarted{(_session.Process is { } p ? $" (pid {p.Id})" : "")}");
                return (_session, null);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                string reason = $"could not be restarted: {e.Message}";
                return (null, $"the MCP server {Name} {await FailLockedAsync(null, reason).ConfigureAwait(false)}");
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<string> FailAsync(Session session, string reason)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            return await FailLockedAsync(session, reason).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Counts a failure (once per session), closes the session and says what happens next; under the gate.</summary>
    private async Task<string> FailLockedAsync(Session? session, string reason)
    {
        if (session is not null && session != _session)
        {
            return reason + (_disabled is null ? "; it is restarted for the next call" : $"; it is disabled ({_disabled})");
        }

        if (session is not null)
        {
            _session = null;
            await session.DisposeAsync().ConfigureAwait(false);
        }

        int failures = Interlocked.Increment(ref _failures);
        if (failures > _options.MaxRestarts)
        {
            _disabled = $"it failed {failures} times in a row; the last time it {reason}";
            _log($"mcp {Name}: DISABLED after {failures} failures in a row; its tools now answer with an error. The last time it {reason}");
            return $"{reason}; it failed {failures} times in a row and is now disabled";
        }

        var pause = _options.RestartDelay * Math.Pow(2, failures - 1);
        _nextStart = DateTime.UtcNow + pause;
        _log($"mcp {Name}: the server {reason}; restart {failures} of {_options.MaxRestarts} on the next call (after {pause.TotalSeconds:0.###} s)");
        return $"{reason}; it will be restarted for the next call";
    }

    private async Task<Session> OpenAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.StartTimeout);
        var clientOptions = new McpClientOptions
        {
            ClientInfo = new Implementation { Name = "tern", Version = typeof(McpConnection).Assembly.GetName().Version?.ToString() ?? "0" },
            InitializationTimeout = _options.StartTimeout,
        };
        if (_config.Url is { } url)
        {
            var transport = new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = url,
                Name = Name,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = _config.Headers.ToDictionary(h => h.Key, h => h.Value),
            });
            return new Session(await McpClient.CreateAsync(transport, clientOptions, cancellationToken: timeout.Token).ConfigureAwait(false), null);
        }

        var process = await McpProcess.StartAsync(_config, _sandbox, _options.Sandbox, _workspace, _options.MaxMessageBytes).ConfigureAwait(false);
        try
        {
            var stream = new StreamClientTransport(process.Input, process.Output);
            return new Session(await McpClient.CreateAsync(stream, clientOptions, cancellationToken: timeout.Token).ConfigureAwait(false), process);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await process.WaitForExitAsync(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
            string exit = process.HasExited ? process.DescribeExit() : $"did not finish the MCP handshake: {e.Message}";
            process.Dispose();
            throw new InvalidOperationException(exit, e);
        }
    }

    /// <summary>What the model reads: the text content, other content described; capped like the shell's output.</summary>
    private ToolResult Render(CallToolResult result)
    {
        var text = new StringBuilder();
        foreach (var block in result.Content)
        {
            text.Append(block switch
            {
                TextContentBlock t => t.Text,
                EmbeddedResourceBlock { Resource: TextResourceContents r } => r.Text,
                _ => $"[{block.Type} content not shown]",
            });
            text.Append('\n');
        }

        if (result.Content.Count == 0 && result.StructuredContent is { } structured)
        {
            text.Append(structured.GetRawText());
        }

        var capture = new OutputCapture(_options.MaxResultBytes);
        capture.Append(Encoding.UTF8.GetBytes(text.ToString().TrimEnd('\n')));
        string output = capture.TotalBytes == 0 ? "(no output)" : capture.Render();
        return result.IsError == true ? ToolResult.Failure("the tool reported an error", "error: " + output) : ToolResult.Success(output);
    }

    private sealed class Session(McpClient client, McpProcess? process) : IAsyncDisposable
    {
        public McpClient Client { get; } = client;

        public McpProcess? Process { get; } = process;

        public async ValueTask DisposeAsync()
        {
            Process?.Kill("was closed by Tern");
            try
            {
                await Client.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // a dead transport may complain on the way out
            }

            Process?.Dispose();
        }
    }
}
