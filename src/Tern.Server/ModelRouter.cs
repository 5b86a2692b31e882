using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Kernels;

namespace Tern.Server;

/// <summary>Where a router model is: not in memory, being loaded, serving, or failed to load (with the reason).</summary>
internal enum ModelState
{
    Unloaded,
    Loading,
    Loaded,
    Failed,
}

/// <summary>One model of the router and its state; fields change only under the router's lock.</summary>
internal sealed class RoutedModel(ModelEntry entry)
{
    public ModelEntry Entry { get; } = entry;
    public string Name => Entry.Name;
    public ModelState State { get; set; }
    public ServedModel? Served { get; set; }
    public string? Error { get; set; }

    /// <summary>Requests holding a lease: while above 0 the model is never unloaded.</summary>
    public int InFlight { get; set; }

    public long LastUsed { get; set; }

    /// <summary>The load under way: its result is null, or why the model could not be kept (the memory budget).</summary>
    public Task<string?>? Loading { get; set; }

    /// <summary>How far the load under way has got (written by the loading thread, read as a whole).</summary>
    public volatile Tern.Models.LoadProgress? Progress;

    /// <summary>The load's progress in words, e.g. "repacked 30/64 tensors", or "" before the file is mapped.</summary>
    public string DescribeProgress() => Progress is { } p ? $"{p.Bytes / (1024.0 * 1024):F0} MiB mapped, repacked {p.Repacked}/{p.ToRepack} tensors" : "";

    /// <summary>Memory the model takes: its file size until it has loaded once, then file + KV cache + recurrent state.</summary>
    public long Bytes { get; set; } = ModelCatalog.FileBytes(entry.Path);

    /// <summary>The file's size as found at start (GET /models shows it without touching the disk again).</summary>
    public long FileBytes { get; } = ModelCatalog.FileBytes(entry.Path);
}

/// <summary>A request's hold on a loaded model: the model is not unloaded until every lease is disposed.</summary>
internal sealed class ModelLease(ServedModel model, Action? release) : IDisposable
{
    private int _released;

    public ServedModel Model { get; } = model;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
            release?.Invoke();
    }
}

/// <summary>
/// Router mode (llama-server's): many models, each loaded on first use into its own engine (continuous batching and
/// prefix cache per model). Loading one that would pass --models-max or --memory-budget first unloads the least
/// recently used model that has no request in flight; when none can be freed the request gets a 503 saying why.
/// </summary>
internal sealed class ModelRouter : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly List<RoutedModel> _models;
    private readonly ServerOptions _options;
    private readonly TextWriter _log;
    private readonly ILogger _logger;
    private readonly Lazy<WorkerPool> _pool; // one pool for every model: their passes take turns on the cores
    private long _clock;

    public ModelRouter(ServerOptions options, TextWriter log, ILogger? logger = null)
    {
        _options = options;
        _log = log;
        _logger = logger ?? NullLogger.Instance;
        _pool = new(() => new WorkerPool(options.Threads));
        if (options.ModelsMax < 1)
            throw new ArgumentException($"--models-max must be at least 1, got {options.ModelsMax}");
        if (options.Models.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"two models are named '{twice.Key}': {string.Join(" and ", twice.Select(m => m.Path))} (rename one, or give it an alias in --models-preset)");
        _models = options.Models.Select(m => new RoutedModel(m)).ToList();
        log.WriteLine($"router: {_models.Count} models, at most {options.ModelsMax} loaded"
            + (options.MemoryBudgetBytes is { } b ? $" within {Size(b)}" : "") + $": {string.Join(", ", _models.Select(m => m.Name))}");
        foreach (var m in _models.Where(m => m.Entry.Settings.LoadOnStartup))
            _ = LoadOnStartupAsync(m);
    }

    public IReadOnlyList<RoutedModel> Models => _models;

    /// <summary>The model named <paramref name="name"/> (with or without <c>.gguf</c>), or a 404 listing some that exist.</summary>
    public RoutedModel Find(string name) =>
        _models.FirstOrDefault(m => m.Name == name)
        ?? _models.FirstOrDefault(m => name.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) && m.Name == name[..^5])
        ?? throw new ApiException(404, $"the model '{name}' does not exist; available: {Some()}", "model", "model_not_found");

    /// <summary>The named model; without a name, the only loaded one, else a 400 naming <c>model</c>.</summary>
    public RoutedModel Pick(string? name)
    {
        if (name is not null)
            return Find(name);
        lock (_gate)
        {
            var loaded = _models.Where(m => m.State == ModelState.Loaded).Take(2).ToList();
            if (loaded.Count == 1)
                return loaded[0];
        }

        throw new ApiException(400, $"'model' is required: this server serves several models ({Some()}); GET /v1/models lists them", "model", "missing_required_parameter");
    }

    /// <summary>
    /// A lease on <paramref name="m"/>, loading it first if needed; <paramref name="waiting"/> is called about once a
    /// second (with the seconds waited) while the load runs.
    /// </summary>
    public async Task<ModelLease> AcquireAsync(RoutedModel m, Func<int, Task>? waiting, CancellationToken cancellation)
    {
        while (true)
        {
            Task<string?> loading;
            lock (_gate)
            {
                switch (m.State)
                {
                    case ModelState.Loaded:
                        m.InFlight++;
                        m.LastUsed = ++_clock;
                        return new ModelLease(m.Served!, () => Release(m));
                    case ModelState.Failed:
                        throw LoadFailed(m);
                    case ModelState.Loading:
                        loading = m.Loading!;
                        break;
                    default:
                        loading = StartLoad(m);
                        break;
                }
            }

            int seconds = 0;
            while (waiting is not null && !loading.IsCompleted)
            {
                await waiting(seconds);
                await Task.WhenAny(loading, Task.Delay(1000, cancellation));
                cancellation.ThrowIfCancellationRequested();
                seconds++;
            }

            if (await loading.WaitAsync(cancellation) is { } refused)
                throw new ApiException(503, refused, "model", "model_capacity");
        }
    }

    /// <summary>POST /models/load: loads (a failed model: tries again) and waits until it is loaded.</summary>
    public async Task LoadAsync(RoutedModel m, CancellationToken cancellation)
    {
        lock (_gate)
        {
            if (m.State == ModelState.Failed)
                m.State = ModelState.Unloaded;
        }

        using var lease = await AcquireAsync(m, null, cancellation);
    }

    /// <summary>POST /models/unload: frees the model now, or a 409 while requests use it or it is loading.</summary>
    public void Unload(RoutedModel m)
    {
        ServedModel? served;
        lock (_gate)
        {
            if (m.State == ModelState.Loading)
                throw new ApiException(409, $"the model '{m.Name}' is loading; unload it when it has loaded", "model", "model_busy");
            if (m.InFlight > 0)
                throw new ApiException(409, $"the model '{m.Name}' is answering {m.InFlight} request(s); unload it when they finish", "model", "model_busy");
            served = m.Served;
            m.Served = null;
            m.State = ModelState.Unloaded;
            m.Error = null;
        }

        if (served is not null)
        {
            _log.WriteLine($"router: unloaded {m.Name}");
            _logger.LogInformation("model {Model} unloaded", m.Name);
        }

        served?.Dispose();
    }

    /// <summary>Makes room for <paramref name="m"/> and starts loading it in the background. Under the lock.</summary>
    private Task<string?> StartLoad(RoutedModel m)
    {
        var evicted = MakeRoom(m, m.Bytes) ?? throw new ApiException(503, CapacityReason(m, m.Bytes), "model", "model_capacity");
        m.State = ModelState.Loading;
        m.Error = null;
        m.Progress = null;
        m.Loading = Task.Run(() => Load(m, evicted));
        return m.Loading;
    }

    private string? Load(RoutedModel m, List<ServedModel> evicted)
    {
        foreach (var e in evicted)
            e.Dispose();
        ServedModel served;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            served = ServedModel.Load(_options with { LoadProgress = p => { m.Progress = p; _options.LoadProgress?.Invoke(p); } },
                m.Entry.Path, m.Name, m.Entry.Settings, _log, _pool.Value);
        }
        catch (Exception e)
        {
            _log.WriteLine($"router: {m.Name} failed to load: {e.Message}");
            _logger.LogError(e, "model {Model} failed to load from {Path}: {Error}", m.Name, m.Entry.Path, e.Message);
            lock (_gate)
            {
                m.State = ModelState.Failed;
                m.Error = e.Message.ReplaceLineEndings(" ");
            }

            return null;
        }

        long bytes = ModelCatalog.FileBytes(m.Entry.Path) + served.Engine.ReservedKvBytes + served.Engine.ReservedRecurrentBytes;
        string? refused = null;
        List<ServedModel>? more;
        lock (_gate)
        {
            m.Bytes = bytes;
            more = MakeRoom(m, bytes);
            if (more is null)
            {
                refused = CapacityReason(m, bytes);
                m.State = ModelState.Unloaded;
            }
            else
            {
                m.Served = served;
                m.State = ModelState.Loaded;
                m.LastUsed = ++_clock;
            }
        }

        foreach (var e in more ?? [served])
            e.Dispose();
        if (refused is null)
            _logger.LogInformation("model {Model} loaded from {Path} in {LoadMs} ms", m.Name, m.Entry.Path, (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        else
            _logger.LogWarning("model {Model} not kept: {Reason}", m.Name, refused);
        return refused;
    }

    /// <summary>
    /// Unloads least recently used idle models until <paramref name="m"/> (of <paramref name="bytes"/>) fits the
    /// limits; the unloaded engines, for the caller to dispose outside the lock, or null when it cannot fit (nothing
    /// is unloaded then). Under the lock.
    /// </summary>
    private List<ServedModel>? MakeRoom(RoutedModel m, long bytes)
    {
        var resident = _models.Where(x => x != m && x.State is ModelState.Loaded or ModelState.Loading).ToList();
        var victims = new List<RoutedModel>();
        bool Fits() => resident.Count - victims.Count < _options.ModelsMax
            && (_options.MemoryBudgetBytes is not { } budget || resident.Except(victims).Sum(x => x.Bytes) + bytes <= budget);
        while (!Fits())
        {
            var victim = resident.Except(victims).Where(x => x.State == ModelState.Loaded && x.InFlight == 0).MinBy(x => x.LastUsed);
            if (victim is null)
                return null;
            victims.Add(victim);
        }

        var evicted = new List<ServedModel>();
        foreach (var v in victims)
        {
            evicted.Add(v.Served!);
            v.Served = null;
            v.State = ModelState.Unloaded;
            _log.WriteLine($"router: unloading {v.Name} (least recently used) to load {m.Name}");
            _logger.LogInformation("model {Model} unloaded (least recently used) to load {Loading}", v.Name, m.Name);
        }

        return evicted;
    }

    /// <summary>Why <paramref name="m"/> cannot be loaded now. Under the lock.</summary>
    private string CapacityReason(RoutedModel m, long bytes)
    {
        var resident = _models.Where(x => x != m && x.State is ModelState.Loaded or ModelState.Loading).ToList();
        if (_options.MemoryBudgetBytes is { } budget && bytes > budget)
            return $"cannot load '{m.Name}': it needs about {Size(bytes)} (file, KV cache and state), more than the --memory-budget of {Size(budget)}";
        string busy = string.Join(", ", resident.Select(x => x.Name));
        return resident.Count >= _options.ModelsMax
            ? $"cannot load '{m.Name}': {resident.Count} models are loaded (--models-max {_options.ModelsMax}) and all are busy ({busy}); try again when a request finishes"
            : $"cannot load '{m.Name}': it needs about {Size(bytes)} and the models in use ({busy}) take {Size(resident.Sum(x => x.Bytes))} of the --memory-budget of {Size(_options.MemoryBudgetBytes ?? 0)}; try again when a request finishes";
    }

    private void Release(RoutedModel m)
    {
        lock (_gate)
        {
            m.InFlight--;
            m.LastUsed = ++_clock;
        }
    }

    private async Task LoadOnStartupAsync(RoutedModel m)
    {
        await Task.Yield();
        try
        {
            await LoadAsync(m, CancellationToken.None);
        }
        catch (ApiException e)
        {
            _log.WriteLine($"router: {m.Name} (load-on-startup): {e.Message}");
        }
    }

    private static ApiException LoadFailed(RoutedModel m) =>
        new(503, $"the model '{m.Name}' failed to load: {m.Error} (POST /models/load tries again)", "model", "model_load_failed");

    /// <summary>A few model names, for error messages.</summary>
    private string Some() =>
        string.Join(", ", _models.Take(8).Select(m => m.Name)) + (_models.Count > 8 ? $" and {_models.Count - 8} more" : "");

    internal static string Size(long bytes) => bytes >= 1 << 30 ? $"{bytes / (double)(1 << 30):F1} GiB" : $"{bytes / (double)(1 << 20):F1} MiB";

    public async ValueTask DisposeAsync()
    {
        Task[] loading;
        lock (_gate)
            loading = _models.Select(m => m.Loading).OfType<Task>().ToArray();
        try
        {
            await Task.WhenAll(loading);
        }
        catch (Exception)
        {
            // reported when it failed
        }

        lock (_gate)
        {
            foreach (var m in _models)
            {
                m.Served?.Dispose();
                m.Served = null;
                m.State = ModelState.Unloaded;
            }
        }

        if (_pool.IsValueCreated)
            _pool.Value.Dispose();
    }
}
