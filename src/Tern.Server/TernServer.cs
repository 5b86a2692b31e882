using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tern.Chat;
using Tern.Models;
using Tern.Runtime.Grammar;
using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;
using Tern.Tokenizers;
using Tern.Tools;
using Tern.Tools.Mcp;

namespace Tern.Server;

/// <summary>
/// `tern serve`: the OpenAI-compatible HTTP API over one model, or in router mode over many (<see cref="ModelRouter"/>).
/// Kestrel listens at once; the one model loads in the background (GET /health answers 503 until it is ready). Errors are OpenAI-shaped JSON; nothing a client sends
/// produces a 5xx.
/// </summary>
public sealed class TernServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly byte[]? _keyHash;
    private readonly Task _loading;
    private volatile ServedModel? _model;
    private readonly DrainGate _drain = new();

    private TernServer(ServerOptions options, TextWriter log)
    {
        Options = options;
        string[] origins = options.AllowedOrigins.Select(RequestGuard.ParseOrigin).ToArray();
        var guard = new RequestGuard(ParseHost(options.Host), options.AllowedHosts, origins); // checks the flags, tools on or off
        Tools = CreateTools(options, log);
        _keyHash = string.IsNullOrEmpty(options.ApiKey) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey));
        var builder = WebApplication.CreateSlimBuilder();
        ServerLog.Configure(builder.Logging, options);
        builder.Services.AddCors();
        if (Tools is { } mcpTools) // /mcp: the tools for MCP clients, one request at a time (no sessions)
            builder.Services.AddMcpServer(mcp => McpToolServer.Configure(mcp, mcpTools)).WithHttpTransport(http => http.Stateless = true);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null; // enforced while reading, so the 413 is OpenAI-shaped
            k.Listen(ParseHost(options.Host), options.Port);
        });
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, CallerLifetime>();
        _app = builder.Build();
        var loggers = _app.Services.GetRequiredService<ILoggerFactory>();
        Logger = loggers.CreateLogger("Tern.Server");
        _app.Use(new RequestLog(loggers.CreateLogger("Tern.Request"), options.LogPrompts).InvokeAsync);
        _app.Use(HandleErrorsAsync);
        _app.Use(_drain.InvokeAsync);
        if (Tools is not null)
            _app.Use(guard.InvokeAsync);
        if (origins.Length > 0) // browser pages from these origins may call the API (CORS preflight answered before the key check)
            _app.UseCors(cors => cors.WithOrigins(origins).WithMethods("GET", "POST").WithHeaders(CorsHeaders));
        _app.Use(WebChatRoutes.ServeAsync); // the page and its files need no key: they hold none
        _app.Use(AuthenticateAsync);
        var info = new InfoRoutes(this);
        var completions = new CompletionRoutes(this);
        _app.MapGet("/health", info.Health);
        _app.MapGet("/v1/models", info.Models);
        _app.MapGet("/models", info.Models);
        _app.MapPost("/models/load", (Delegate)info.LoadAsync);
        _app.MapPost("/models/unload", (Delegate)info.UnloadAsync);
        _app.MapGet("/v1/models/{**id}", info.Model);
        _app.MapGet("/props", (Delegate)info.Props);
        _app.MapGet("/slots", (Delegate)info.Slots);
        _app.MapPost("/slots/{id}", (Delegate)new SlotRoutes(this).ActAsync);
        _app.MapGet("/metrics", (Delegate)info.Metrics);
        _app.MapPost("/tokenize", (Delegate)info.TokenizeAsync);
        _app.MapPost("/detokenize", (Delegate)info.DetokenizeAsync);
        _app.MapPost("/apply-template", (Delegate)completions.ApplyTemplateAsync);
        _app.MapPost("/v1/chat/completions", completions.ChatAsync);
        _app.MapPost("/chat/completions", completions.ChatAsync);
        _app.MapPost("/v1/completions", completions.CompletionAsync);
        _app.MapPost("/completions", completions.CompletionAsync);
        var embeddings = new EmbeddingRoutes(this);
        _app.MapPost("/v1/embeddings", embeddings.EmbeddingsAsync);
        _app.MapPost("/embeddings", embeddings.EmbeddingsAsync);
        _app.MapGet("/tools", () => Tools is null
            ? throw new ApiException(404, "built-in tools are off (start the server with --tools)", code: "not_found")
            : Results.Text(Tools.SchemasJson, "application/json"));
        _app.MapPost("/tools/call", (Delegate)CallToolAsync);
        if (Tools is not null)
            _app.MapMcp("/mcp"); // without --tools, /mcp falls to the 404 below
        ResponsesRoutes.Map(_app, this);
        MessagesRoutes.Map(_app, this);
        _app.MapFallback(http => throw new ApiException(404, $"no route for {http.Request.Method} {http.Request.Path}", code: "not_found"));
        if (options.Models.Count > 0)
        {
            Router = new ModelRouter(options, log, Logger);
            _loading = Task.CompletedTask;
        }
        else
        {
            _loading = Task.Run(() => Load(log));
        }
    }

    public ServerOptions Options { get; }

    /// <summary>The server's own messages (start, stop, model loads); requests log under Tern.Request.</summary>
    internal ILogger Logger { get; }

    /// <summary>The request headers a page from an allowed origin may send: the key (either way), JSON, and Anthropic's clients' own.</summary>
    internal static readonly string[] CorsHeaders =
        ["Authorization", "Content-Type", "x-api-key", "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access"];

    /// <summary>The address Kestrel listens on, e.g. http://127.0.0.1:8080.</summary>
    public string Address { get; private set; } = "";

    internal ServerMetrics Metrics { get; } = new();

    internal ServedModel? Model => _model;

    /// <summary>The built-in tools, or null when --tools is off.</summary>
    internal ToolSet? Tools { get; }

    /// <summary>The MCP servers of --mcp-config, or null.</summary>
    internal McpServers? Mcp { get; private set; }

    internal Exception? LoadError { get; private set; }

    /// <summary>Router mode (<see cref="ServerOptions.Models"/>): the models requests pick by name; null: one model.</summary>
    internal ModelRouter? Router { get; }

    /// <summary>Binds the port and starts loading the model; returns once the server accepts connections.</summary>
    public static async Task<TernServer> StartAsync(ServerOptions options, TextWriter log, CancellationToken cancellation = default)
    {
        var server = new TernServer(options, log);
        await server._app.StartAsync(cancellation);
        server.Address = server._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        log.WriteLine($"listening on {server.Address}");
        server.Logger.LogInformation("listening on {Address}", server.Address);
        return server;
    }

    /// <summary>Completes when the model is loaded (or failed to load: rethrows).</summary>
    public Task WaitUntilReadyAsync() => _loading;

    /// <summary>Runs until <paramref name="cancellation"/> fires (or the host is stopped); the server keeps serving: see <see cref="DrainAsync"/>.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellation)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellation, _app.Lifetime.ApplicationStopping);
        await Task.Delay(Timeout.Infinite, either.Token).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    /// <summary>
    /// Graceful drain: new requests get 503 server_draining (/health 503 "draining"), running ones may finish within
    /// <paramref name="timeout"/> (or until <paramref name="cutNow"/> fires); those left are cut, streams with an error
    /// event. Returns when none runs; the models are unloaded by <see cref="DisposeAsync"/>.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout, CancellationToken cutNow = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Logger.LogInformation("draining: new requests get 503, {Running} running may take up to {DrainTimeoutSeconds} s", _drain.Running, timeout.TotalSeconds);
        int cut;
        using (cutNow.Register(() => Logger.LogWarning("asked to stop again: the running requests are cut now")))
            cut = await _drain.DrainAsync(timeout, cutNow);
        Logger.LogInformation("drained in {DrainMs} ms, {Cut} requests cut", clock.ElapsedMilliseconds, cut);
    }

    internal ServedModel RequireModel() => _model
        ?? throw new ApiException(503, LoadError is null ? "the model is still loading" : $"the model failed to load: {LoadError.Message}", code: "model_not_ready");

    /// <summary>
    /// The model a request asked for, held until the lease is disposed. One model: that one, whatever the request
    /// names. Router mode: the request's <c>model</c> (or the only one loaded), loaded first if need be; a streaming
    /// request that waits for a load gets SSE comment lines meanwhile (clients skip them), so the status is sent.
    /// </summary>
    internal async Task<ModelLease> AcquireAsync(HttpContext http, JsonRequest r)
    {
        if (Router is null)
            return new ModelLease(RequireModel(), null);
        var routed = Router.Pick(r.String("model"));
        Func<int, Task>? waiting = null;
        if (r.Bool("stream") == true)
        {
            var sse = new SseWriter(http.Response);
            waiting = seconds => sse.CommentAsync($"loading {routed.Name}" + (routed.DescribeProgress() is { Length: > 0 } p ? $": {p}" : "")
                + (seconds > 0 ? $" ({seconds} s)" : ""), http.RequestAborted);
        }

        return await Router.AcquireAsync(routed, waiting, http.RequestAborted);
    }

    /// <summary>The model of an info route (/props, /slots, /metrics): <c>?model=</c>, else the only one (router mode loads it).</summary>
    internal async Task<ModelLease> AcquireAsync(HttpContext http)
    {
        if (Router is null)
            return new ModelLease(RequireModel(), null);
        string? name = http.Request.Query["model"].FirstOrDefault();
        return await Router.AcquireAsync(Router.Pick(string.IsNullOrEmpty(name) ? null : name), null, http.RequestAborted);
    }

    private void Load(TextWriter log)
    {
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            _model = ServedModel.Load(Options, Options.ModelPath, Options.Alias ?? Path.GetFileNameWithoutExtension(Options.ModelPath), new ModelSettings(), log);
            Logger.LogInformation("model {Model} loaded from {Path} in {LoadMs} ms", _model.Name, Options.ModelPath, clock.ElapsedMilliseconds);
        }
        catch (Exception e)
        {
            LoadError = e;
            log.WriteLine($"error: {e.Message}");
            Logger.LogError(e, "model {Path} failed to load: {Error}", Options.ModelPath, e.Message);
            throw;
        }
    }

    /// <summary>
    /// The tools from --tools, confined to the workspace. With tools on, a non-loopback address needs an API key:
    /// otherwise anyone on the network could run commands in the workspace; on loopback without a key, a warning.
    /// </summary>
    private ToolSet? CreateTools(ServerOptions options, TextWriter log)
    {
        if (options.Tools is null)
            return options.McpConfig is null ? null : throw new ArgumentException("--mcp-config needs --tools (the MCP servers' tools join the built-in ones)");
        if (!IPAddress.IsLoopback(ParseHost(options.Host)) && string.IsNullOrEmpty(options.ApiKey))
            throw new ArgumentException($"--tools on a non-loopback address ({options.Host}) needs --api-key (or TERN_API_KEY)");
        Mcp = StartMcpServers(options, log);
        var tools = OpenTools(options, log, Mcp?.Tools);
        if (string.IsNullOrEmpty(options.ApiKey))
            log.WriteLine("WARNING: --tools without --api-key: any program or user on this machine can use the tools "
                + "(read and write the workspace, run commands); web pages are refused by the Host, Origin and JSON checks. "
                + "Set --api-key or TERN_API_KEY to require a key");
        return tools;
    }

    /// <summary>
    /// The tools of <see cref="ServerOptions.Tools"/> with their workspace, shell timeout, quota and audit log (the
    /// --tools flags of `tern serve` and `tern mcp`), and <paramref name="added"/> (MCP servers' tools), described on
    /// <paramref name="log"/>.
    /// </summary>
    public static ToolSet OpenTools(ServerOptions options, TextWriter log, IReadOnlyList<Tool>? added = null)
    {
        var timeout = ToolTimeout(options);
        var tools = ToolSet.Create(options.Tools, new ToolSetOptions
        {
            WorkspaceRoot = options.Workspace ?? Directory.GetCurrentDirectory(),
            AuditLogPath = options.AuditLog,
            Report = log.WriteLine,
            Shell = new ShellOptions { Unsafe = options.UnsafeShell, DefaultTimeout = timeout },
            WorkspaceQuotaBytes = options.WorkspaceQuotaBytes,
            AddedTools = added ?? [],
        });
        var quota = tools.Workspace.Quota;
        log.WriteLine($"tools: {string.Join(", ", tools.Tools.Select(t => t.Name))}; workspace {tools.Workspace.Root} " +
                      $"(quota {WorkspaceQuota.Size(quota.LimitBytes)}, {quota.Describe(quota.Current())}); at most {tools.MaxConcurrentCalls} calls at once");
        if (tools.Find("shell") is ShellTool shell)
            log.WriteLine($"shell: {shell.DescribeSandbox()}");
        if (options.UnsafeShell)
            log.WriteLine("WARNING: --unsafe-shell: shell commands run WITHOUT the bubblewrap sandbox, with this server's permissions");
        return tools;
    }

    /// <summary>
    /// The servers of --mcp-config (a config error stops the start with the file and field named), started before the
    /// tool set so their tools join it; null without the flag.
    /// </summary>
    private static McpServers? StartMcpServers(ServerOptions options, TextWriter log)
    {
        if (options.McpConfig is null)
            return null;
        var configs = McpConfigFile.Load(options.McpConfig);
        var mcpOptions = options.Mcp with { CallTimeout = ToolTimeout(options) };
        return McpServers.StartAsync(configs, options.Workspace ?? Directory.GetCurrentDirectory(), mcpOptions, ToolSet.ParseSelection(options.Tools), TextWriter.Synchronized(log).WriteLine)
            .GetAwaiter().GetResult();
    }

    private static TimeSpan ToolTimeout(ServerOptions options) => TimeSpan.FromSeconds(Math.Clamp(options.ToolTimeoutSeconds, 1, 60));

    /// <summary>POST /tools/call {"name", "arguments"}: one built-in tool, under the same key, sandbox and audit log.</summary>
    private async Task<IResult> CallToolAsync(HttpContext http)
    {
        var tools = Tools ?? throw new ApiException(404, "built-in tools are off (start the server with --tools)", code: "not_found");
        var r = await JsonRequest.ReadAsync(http.Request, Options.MaxBodyBytes, http.RequestAborted);
        string name = r.String("name") ?? throw ApiException.BadRequest("'name' is required", "name", "missing_required_parameter");
        if (!tools.Contains(name))
            throw ApiException.BadRequest($"'name' {name} is not an enabled tool (enabled: {string.Join(", ", tools.Tools.Select(t => t.Name))})", "name");
        string arguments = r.Element("arguments") is { } a ? a.GetRawText() : "{}";
        var result = await tools.InvokeAsync(name, arguments, "call-" + Guid.NewGuid().ToString("N"), http.RequestAborted);
        return Results.Json(new { name, ok = result.Ok, output = result.Output, error = result.Error }, ServerJson.Options);
    }

    private async Task HandleErrorsAsync(HttpContext http, RequestDelegate next)
    {
        try
        {
            await next(http);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; the engine has freed its sequence.
        }
        catch (Exception e) when (http.Response.HasStarted && http.Response.ContentType == "text/event-stream")
        {
            RequestStats.Current?.Error = e;
            // Mid-stream: the status is sent already, so the error goes out as a last event (as OpenAI does).
            var (status, code) = e switch
            {
                ApiException api => (api.Status, api.Code),
                TemplateException => (400, "template_error"),
                GrammarException => (400, "grammar_error"),
                ContextLengthExceededException => (400, "context_length_exceeded"),
                InvalidLogitsException => (500, "invalid_logits"),
                _ => (500, "internal_error"),
            };
            var error = new ApiException(status, e.Message.ReplaceLineEndings(" "), code: code);
            await http.Response.Body.WriteAsync(MessagesShape.IsMessagesPath(http.Request.Path)
                ? SseWriter.Event(MessagesShape.Error(status, error.Message)) // Anthropic's `event: error`
                : Encoding.UTF8.GetBytes("data: " + Encoding.UTF8.GetString(error.ToJson()) + "\n\n"));
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            RequestStats.Current?.Error = e;
            var error = e switch
            {
                ApiException api => api,
                ContextLengthExceededException c => new ApiException(400, c.Message, "messages", "context_length_exceeded"),
                QueueFullException q => new ApiException(429, q.Message, code: "queue_full"),
                TemplateException t => new ApiException(400, $"the chat template failed: {t.Message}", "messages", "template_error"),
                GrammarException g => new ApiException(400, $"the output grammar failed: {g.Message}", code: "grammar_error"),
                ArgumentException a => new ApiException(400, a.Message.ReplaceLineEndings(" "), a.ParamName, "invalid_value"),
                BadHttpRequestException b => new ApiException(b.StatusCode, b.Message),
                // The model, not the request, is broken: the same request would fail again.
                InvalidLogitsException l => new ApiException(500, l.Message, code: "invalid_logits"),
                _ => new ApiException(500, $"internal error: {e.GetType().Name}: {e.Message}", code: "internal_error"),
            };
            http.Response.Clear();
            http.Response.StatusCode = error.Status;
            if (error.Status == 429)
                http.Response.Headers.RetryAfter = "1";
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(MessagesShape.IsMessagesPath(http.Request.Path)
                ? JsonSerializer.SerializeToUtf8Bytes(MessagesShape.Error(error.Status, error.Message), ServerJson.Options)
                : error.ToJson());
        }
    }

    private Task AuthenticateAsync(HttpContext http, RequestDelegate next)
    {
        if (_keyHash is null || http.Request.Path == "/health")
            return next(http);
        // Authorization: Bearer <key>, as OpenAI's clients send it, or x-api-key: <key>, as Anthropic's do.
        string header = http.Request.Headers.Authorization.ToString();
        string given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..] : http.Request.Headers["x-api-key"].ToString();
        // Hashes have one length, so the comparison takes the same time whatever was sent.
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), _keyHash))
            throw new ApiException(401, given.Length == 0 ? "missing API key: send Authorization: Bearer <key> or x-api-key: <key>" : "invalid API key", code: "invalid_api_key");
        return next(http);
    }

    private static IPAddress ParseHost(string host) =>
        host == "localhost" ? IPAddress.Loopback
        : IPAddress.TryParse(host, out var address) ? address
        : throw new ArgumentException($"--host '{host}' is not an IP address (use e.g. 127.0.0.1 or 0.0.0.0)");

    /// <summary>Stops Kestrel, then unloads the models (their engines flush what they keep) and stops the tools.</summary>
    public async ValueTask DisposeAsync()
    {
        Logger.LogInformation("stopping");
        await _app.StopAsync();
        try
        {
            await _loading;
        }
        catch (Exception)
        {
            // reported at load time
        }

        string[] loaded = Router is null ? _model is null ? [] : [_model.Name] : Router.Models.Where(m => m.State == ModelState.Loaded).Select(m => m.Name).ToArray();
        _model?.Dispose();
        if (Router is not null)
            await Router.DisposeAsync();
        if (Tools is not null)
            await Tools.DisposeAsync();
        if (Mcp is not null)
            await Mcp.DisposeAsync();
        Logger.LogInformation("stopped: models unloaded ({Models})", string.Join(", ", loaded));
        await _app.DisposeAsync(); // last: it closes the log
    }
}
