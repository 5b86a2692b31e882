using System.Diagnostics;
using System.Text.Json;

namespace Tern.Tools;

/// <summary>
/// The enabled built-in tools of a server: built from a selection such as <c>all</c> or <c>read_file,grep,time</c>,
/// it gives the schemas to add to a request's <c>tools</c> and runs calls by name. <see cref="InvokeAsync(string, string?, string, CancellationToken)"/>
/// never throws for anything the model sent (unknown tool, malformed or hostile arguments, a refused path, a failing
/// command): those come back as error results the model can read. Only programmer errors (null name or request id)
/// and cancellation by the caller throw. Every call, failed or not, is appended to the audit log when there is one
/// (disposing the set writes what is queued and closes the log). At most <c>maxConcurrentCalls</c> calls run at once;
/// the others wait (cancellably) for a slot, and fail with a clear message after <c>callSlotWait</c>. Thread-safe.
/// </summary>
public sealed class ToolSet : IAsyncDisposable
{
    /// <summary>Longest arguments JSON accepted (characters).</summary>
    public const int MaxArgumentsLength = 4 << 20;

    private static readonly JsonDocumentOptions ArgumentsJson = new() { MaxDepth = 64 };

    public const int DefaultMaxConcurrentCalls = 4;

    public static readonly TimeSpan DefaultCallSlotWait = TimeSpan.FromSeconds(60);

    private readonly Dictionary<string, Tool> _byName;
    private readonly TimeProvider _clock;
    private readonly SemaphoreSlim _slots;
    private readonly TimeSpan _slotWait;

    public ToolSet(
        IEnumerable<Tool> tools, Workspace workspace, TimeProvider? clock = null, AuditLog? auditLog = null,
        int maxConcurrentCalls = DefaultMaxConcurrentCalls, TimeSpan? callSlotWait = null)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentNullException.ThrowIfNull(workspace);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrentCalls, 1);
        _slotWait = callSlotWait ?? DefaultCallSlotWait;
        ArgumentOutOfRangeException.ThrowIfLessThan(_slotWait, TimeSpan.Zero, nameof(callSlotWait));
        _slots = new SemaphoreSlim(maxConcurrentCalls, maxConcurrentCalls);
        MaxConcurrentCalls = maxConcurrentCalls;
        Tools = [.. tools];
        _byName = new Dictionary<string, Tool>(StringComparer.Ordinal);
        foreach (var tool in Tools)
        {
            if (!_byName.TryAdd(tool.Name, tool))
            {
                throw new ArgumentException($"two tools are named '{tool.Name}'", nameof(tools));
            }
        }

        Workspace = workspace;
        _clock = clock ?? TimeProvider.System;
        AuditLog = auditLog;
        Schemas = [.. Tools.Select(t => t.Schema)];
        SchemasJson = JsonSerializer.Serialize(Schemas);
    }

    /// <summary>Names of the built-in tools, in the order <c>all</c> enables them.</summary>
    public static IReadOnlyList<string> KnownTools { get; } = ["read_file", "write_file", "edit_file", "grep", "shell", "time", "file_glob_search", "get_info"];

    public IReadOnlyList<Tool> Tools { get; }

    public int MaxConcurrentCalls { get; }

    public Workspace Workspace { get; }

    public AuditLog? AuditLog { get; }

    /// <summary>One OpenAI function-tool object per tool (see <see cref="Tool.Schema"/>).</summary>
    public IReadOnlyList<JsonElement> Schemas { get; }

    /// <summary><see cref="Schemas"/> as a JSON array.</summary>
    public string SchemasJson { get; }

    /// <summary>
    /// The tool names a selection enables: null, empty or <c>all</c> means all of them; otherwise a comma-separated
    /// list (spaces and duplicates allowed, case-insensitive). Throws <see cref="ArgumentException"/> naming an
    /// unknown tool and listing the known ones.
    /// </summary>
    public static IReadOnlyList<string> ParseSelection(string? selection)
    {
        if (string.IsNullOrWhiteSpace(selection) || selection.Trim().Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return KnownTools;
        }

        var chosen = new List<string>();
        foreach (string part in selection.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string? known = KnownTools.FirstOrDefault(k => k.Equals(part, StringComparison.OrdinalIgnoreCase));
            if (known is null)
            {
                throw new ArgumentException(
                    $"unknown tool '{part}' in the tool list; the built-in tools are {string.Join(", ", KnownTools)} (or 'all')", nameof(selection));
            }

            if (!chosen.Contains(known))
            {
                chosen.Add(known);
            }
        }

        return chosen.Count > 0 ? chosen : throw new ArgumentException("the tool list is empty", nameof(selection));
    }

    /// <summary>The tools of <paramref name="selection"/> (see <see cref="ParseSelection"/>) over a new workspace.</summary>
    public static ToolSet Create(string? selection, ToolSetOptions? options = null)
    {
        options ??= new ToolSetOptions();
        var names = ParseSelection(selection);
        var workspace = new Workspace(options.WorkspaceRoot ?? Directory.GetCurrentDirectory(), options.WorkspaceQuotaBytes);
        var tools = names.Select(name => name switch
        {
            "read_file" => (Tool)new ReadFileTool(options.Files),
            "write_file" => new WriteFileTool(options.Files),
            "edit_file" => new EditFileTool(options.Files),
            "grep" => new GrepTool(options.Files),
            "shell" => new ShellTool(options.Shell),
            "time" => new TimeTool(),
            "file_glob_search" => new FileGlobSearchTool(options.Files),
            "get_info" => new GetInfoTool(options.Shell, runGit: names.Contains("shell")),
            _ => throw new UnreachableException(name),
        });
        var audit = options.AuditLogPath is { } path ? new AuditLog(path, workspace, options.Report) : null;
        return new ToolSet(tools.Concat(options.AddedTools), workspace, options.Clock, audit, options.MaxConcurrentCalls, options.CallSlotWait);
    }

    public ValueTask DisposeAsync() => AuditLog?.DisposeAsync() ?? ValueTask.CompletedTask;

    public bool Contains(string name) => _byName.ContainsKey(name);

    public Tool? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Runs a call whose arguments are a JSON text (as in an OpenAI <c>tool_calls[].function.arguments</c>).</summary>
    public Task<ToolResult> InvokeAsync(string name, string? argumentsJson, string requestId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(requestId);
        if (argumentsJson is not null && argumentsJson.Length > MaxArgumentsLength)
        {
            return Task.FromResult(Finish(name, requestId, null, argumentsJson, Stopwatch.GetTimestamp(),
                ToolResult.Failure($"the arguments are {argumentsJson.Length} characters long; at most {MaxArgumentsLength} are accepted")));
        }

        if (string.IsNullOrWhiteSpace(argumentsJson))
        {
            return InvokeAsync(name, default(JsonElement), requestId, cancellationToken);
        }

        JsonElement arguments;
        try
        {
            using var document = JsonDocument.Parse(argumentsJson, ArgumentsJson);
            arguments = Unwrap(document.RootElement.Clone());
        }
        catch (JsonException e)
        {
            return Task.FromResult(Finish(name, requestId, null, argumentsJson, Stopwatch.GetTimestamp(),
                ToolResult.Failure($"the arguments are not valid JSON: {e.Message}")));
        }

        return InvokeAsync(name, arguments, requestId, cancellationToken);
    }

    /// <summary>Runs a call whose arguments are already parsed (an object; undefined or null mean none).</summary>
    public async Task<ToolResult> InvokeAsync(string name, JsonElement arguments, string requestId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(requestId);
        long started = Stopwatch.GetTimestamp();
        if (!_byName.TryGetValue(name, out var tool))
        {
            string available = Tools.Count == 0 ? "none" : string.Join(", ", Tools.Select(t => t.Name));
            return Finish(name, requestId, arguments, null, started,
                ToolResult.Failure($"there is no tool named {Workspace.Quote(name)}; the available tools are: {available}"));
        }

        ToolResult result;
        bool slot = false;
        try
        {
            slot = await _slots.WaitAsync(_slotWait, cancellationToken).ConfigureAwait(false);
            result = slot
                ? await tool.ExecuteAsync(arguments, new ToolContext(Workspace, requestId, _clock, cancellationToken)).ConfigureAwait(false)
                : ToolResult.Failure($"the server is busy: {MaxConcurrentCalls} tool calls are already running and none finished within " +
                                     $"{_slotWait.TotalSeconds:0.###} s; try again later");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Audit(name, requestId, arguments, null, started, "cancelled", "the request was cancelled", 0);
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug in a tool must not take the request (or the server) down; the model and the log see what happened.
            result = ToolResult.Failure($"internal error in {name}: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            if (slot)
            {
                _slots.Release();
            }
        }

        return Finish(name, requestId, arguments, null, started, result);
    }

    /// <summary>Synchronous <see cref="InvokeAsync(string, string?, string, CancellationToken)"/>, for callers without a loop.</summary>
    public ToolResult Invoke(string name, string? argumentsJson, string requestId) =>
        InvokeAsync(name, argumentsJson, requestId).GetAwaiter().GetResult();

    private ToolResult Finish(string name, string requestId, JsonElement? arguments, string? rawArguments, long started, ToolResult result)
    {
        Audit(name, requestId, arguments, rawArguments, started, result.Ok ? "ok" : "error", result.Error, result.Bytes);
        return result;
    }

    private void Audit(string name, string requestId, JsonElement? arguments, string? rawArguments, long started, string outcome, string? message, int bytes) =>
        AuditLog?.Append(_clock.GetLocalNow(), requestId, name, arguments, rawArguments, outcome, message, bytes, Stopwatch.GetElapsedTime(started));

    /// <summary>Some models encode the arguments twice (a JSON string holding the object); accept that.</summary>
    private static JsonElement Unwrap(JsonElement arguments)
    {
        if (arguments.ValueKind != JsonValueKind.String)
        {
            return arguments;
        }

        try
        {
            string? inner = arguments.GetString();
            if (inner is null || !inner.TrimStart().StartsWith('{'))
            {
                return arguments;
            }

            using var document = JsonDocument.Parse(inner, ArgumentsJson);
            return document.RootElement.Clone();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return arguments;
        }
    }
}
