using System.CommandLine;
using Tern.Runtime.Serving;
using Tern.Server;

namespace Tern.Cli;

/// <summary>
/// `tern serve [-m FILE] [--host 127.0.0.1] [--port 8080] [-c CTX] [-np PARALLEL] [-t THREADS] [--api-key KEY]
/// [--alias NAME] [--chat-template-file FILE] [--tools [LIST]] [--allowed-hosts A,B] [--allowed-origins O,P] ...`:
/// the OpenAI-compatible server, on loopback unless told otherwise.
/// </summary>
public static class ServeCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model)" };
        var host = new Option<string>("--host") { Description = "address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port to listen on", DefaultValueFactory = _ => 8080 };
        var context = new Option<int>("--ctx-size", "-c") { Description = "context per sequence (0: the model's, at most 4096)" };
        var parallel = new Option<int>("--parallel", "-np") { Description = "sequences decoded together", DefaultValueFactory = _ => 4 };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var cacheTypeK = new Option<string>("--cache-type-k", "-ctk") { Description = "KV cache type for keys: f16, q8_0, q4_0", DefaultValueFactory = _ => "f16" };
        var cacheTypeV = new Option<string>("--cache-type-v", "-ctv") { Description = "KV cache type for values: f16, q8_0, q4_0", DefaultValueFactory = _ => "f16" };
        var apiKey = new Option<string?>("--api-key") { Description = "require this key as 'Authorization: Bearer KEY' (or set TERN_API_KEY)" };
        var alias = new Option<string?>("--alias") { Description = "model name shown to clients" };
        var templateFile = new Option<string?>("--chat-template-file") { Description = "Jinja chat template to use instead of the model's" };
        var specialInContent = new Option<bool>("--special-in-content") { Description = "read special-token text in message content as control tokens (the old behaviour: content can forge turns)" };
        var mcpConfig = new Option<string?>("--mcp-config") { Description = "with --tools: a JSON file of MCP servers ({\"mcpServers\": {NAME: {command, args, env, network} or {url, headers}}}) whose tools join the built-in ones as NAME_TOOL" };
        var maxToolSteps = new Option<int>("--max-tool-steps") { Description = "tool rounds per request", DefaultValueFactory = _ => 8 };
        var allowedHosts = new Option<string?>("--allowed-hosts") { Description = "with --tools: Host names accepted besides loopback and the listening address (comma list)" };
        var allowedOrigins = new Option<string?>("--allowed-origins") { Description = "web page origins allowed to call the API, e.g. http://localhost:3000 (comma list)" };
        var checkpoints = new Option<int>("--ctx-checkpoints", "--checkpoints") { Description = "hybrid models (qwen35moe): copies of the recurrent state the prefix cache keeps, so a prompt that extends an earlier one resumes (0: none)", DefaultValueFactory = _ => 8 };
        var reasoningFormat = new Option<string>("--reasoning-format") { Description = "where a reply's <think> block or thought channel goes: auto (reasoning_content) or none (left in content)", DefaultValueFactory = _ => "auto" };
        var hubModel = TernCommand.HubOption();
        var offline = TernCommand.OfflineOption();
        var pooling = new Option<string?>("--pooling") { Description = "how /v1/embeddings pools token states: mean, cls or last (default: the model's pooling_type, else mean)" };
        var modelsDir = new Option<string?>("--models-dir") { Description = "router mode: serve every GGUF in DIR (named by file, without .gguf) and the model caches' models (OWNER/NAME:QUANT); the request's 'model' picks one, loaded on first use" };
        var modelsPreset = new Option<string?>("--models-preset") { Description = "router mode: per-model settings from an INI file ([NAME] sections, keys named as these flags: ctx-size, parallel, cache-type-k, temp, model = PATH, alias, ...)" };
        var modelsMax = new Option<int>("--models-max") { Description = "router mode: most models loaded at once; the least recently used idle one is unloaded first", DefaultValueFactory = _ => 4 };
        var memoryBudget = new Option<string?>("--memory-budget") { Description = "router mode: most memory the loaded models take together, e.g. 16G (a model counts as its file size + its KV cache + its recurrent state)" };
        var drainTimeout = new Option<int>("--drain-timeout") { Description = "on SIGTERM or Ctrl-C: seconds running requests may take to finish while new ones (and /health) get 503; then the rest are cut (a stream ends with an error event); a second signal cuts them at once", DefaultValueFactory = _ => DefaultDrainSeconds };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "keep the prefix cache's KV blocks on disk too, in DIR (a folder per model), so a restarted server resumes long conversations without processing them again" };
        var slotSavePath = new Option<string?>("--slot-save-path") { Description = "llama-server's slot files: POST /slots/{id}?action=save|restore {\"filename\": NAME} writes and reads NAME in DIR" };
        var cacheDiskSize = new Option<string?>("--cache-disk-size") { Description = "with --cache-dir: most disk each model's blocks take, e.g. 20G (least recently used deleted first; default 10G)" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "log debug messages too (ASP.NET Core's included)" };
        var logFormat = new Option<string>("--log-format") { Description = "log lines as text or json (one object a line)", DefaultValueFactory = _ => "text" };
        var logFile = new Option<string?>("--log-file") { Description = "append the log to FILE instead of the console" };
        var logPrompts = new Option<bool>("--log-prompts") { Description = "log prompts and error messages that may quote requests (off: never; API keys are never logged)" };
        var command = new Command("serve", "Serve the model (or, with --models-dir, many) over an OpenAI-compatible HTTP API.")
        {
            modelsDir, modelsPreset, modelsMax, memoryBudget,
            model, host, port, context, parallel, threads, cacheTypeK, cacheTypeV, apiKey, alias, templateFile, specialInContent, mcpConfig, maxToolSteps,
            allowedHosts, allowedOrigins, reasoningFormat, checkpoints, pooling, hubModel, offline, verbose, logFormat, logFile, logPrompts, drainTimeout,
            cacheDir, cacheDiskSize, slotSavePath,
        };
        var toolFlags = ToolFlags.AddTo(command, whenAbsent: null);
        var habits = HabitFlags.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            habits(parse, stdout);
            bool router = parse.GetValue(modelsDir) is not null || parse.GetValue(modelsPreset) is not null;
            if (router && (parse.GetValue(model) is not null || parse.GetValue(hubModel) is not null || parse.GetValue(alias) is not null))
                throw new ArgumentException("--models-dir/--models-preset serve many models: leave out -m, -hf and --alias (name a model with 'alias' in the preset file)");
            var options = toolFlags(parse, new ServerOptions
            {
                ModelPath = router ? "" : TernCommand.ResolveModel(parse.GetValue(model), parse.GetValue(hubModel), stdout, parse.GetValue(offline)),
                Models = router ? RouterModels(parse.GetValue(modelsDir), parse.GetValue(modelsPreset), Hub.CachedModels.All()) : [],
                ModelsMax = Check(parse.GetValue(modelsMax), 1, 1024, "--models-max"),
                MemoryBudgetBytes = parse.GetValue(memoryBudget) is { } budget ? ParseSize(budget, "--memory-budget") : null,
                CacheDir = parse.GetValue(cacheDir),
                CacheDiskBytes = parse.GetValue(cacheDiskSize) is { } diskSize ? ParseSize(diskSize, "--cache-disk-size") : ServerOptions.DefaultCacheDiskBytes,
                Host = parse.GetValue(host)!,
                Port = Check(parse.GetValue(port), 0, 65535, "--port"),
                ContextPerSequence = Check(parse.GetValue(context), 0, int.MaxValue, "--ctx-size"),
                Parallel = Check(parse.GetValue(parallel), 1, 256, "--parallel"),
                Threads = Check(parse.GetValue(threads), 0, 1024, "--threads"),
                LoadProgress = LoadProgressLine.For(stdout) is { } line ? line.Draw : null,
                CacheTypeK = CacheType(parse.GetValue(cacheTypeK)!, "--cache-type-k"),
                CacheTypeV = CacheType(parse.GetValue(cacheTypeV)!, "--cache-type-v"),
                ApiKey = SecretScrubber.ReadApiKey(parse.GetValue(apiKey), stdout),
                Alias = parse.GetValue(alias),
                ChatTemplateFile = parse.GetValue(templateFile),
                SpecialInContent = parse.GetValue(specialInContent),
                McpConfig = parse.GetValue(mcpConfig),
                MaxToolSteps = Check(parse.GetValue(maxToolSteps), 1, 64, "--max-tool-steps"),
                AllowedHosts = List(parse.GetValue(allowedHosts)),
                AllowedOrigins = List(parse.GetValue(allowedOrigins)),
                ReasoningFormat = ParseReasoningFormat(parse.GetValue(reasoningFormat)!),
                RecurrentCheckpoints = Check(parse.GetValue(checkpoints), 0, 1024, "--ctx-checkpoints"),
                Pooling = parse.GetValue(pooling) is { } p ? ParsePooling(p) : null,
                LogFormat = ParseLogFormat(parse.GetValue(logFormat)!),
                LogFile = parse.GetValue(logFile),
                LogToConsole = true,
                Verbose = parse.GetValue(verbose),
                LogPrompts = parse.GetValue(logPrompts),
                SlotSavePath = parse.GetValue(slotSavePath) is { } slots ? SlotFolder(slots) : null,
            });
            if (options.ChatTemplateFile is { } file && !File.Exists(file))
                throw new FileNotFoundException($"--chat-template-file {file} does not exist");
            var drain = TimeSpan.FromSeconds(Check(parse.GetValue(drainTimeout), 0, 3600, "--drain-timeout"));
            using var signals = new ShutdownSignals();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation, signals.Stop);
            await using var server = await TernServer.StartAsync(options, stdout, stop.Token);
            await server.WaitUntilReadyAsync();
            await server.WaitForShutdownAsync(stop.Token);
            await server.DrainAsync(drain, signals.Cut);
            return 0; // after the server's disposal: Kestrel stopped, the models unloaded
        });
        return command;
    }

    /// <summary>--slot-save-path: the folder, made if missing, as a full path.</summary>
    private static string SlotFolder(string path)
    {
        if (File.Exists(path))
            throw new ArgumentException($"--slot-save-path {path} is a file, not a folder");
        return Directory.CreateDirectory(path).FullName;
    }

    /// <summary>Leaves 10 s of Kubernetes' default terminationGracePeriodSeconds (30) to cut what is left and unload the models.</summary>
    public const int DefaultDrainSeconds = 20;

    /// <summary>
    /// Router mode's models: the GGUFs of <paramref name="directory"/>, then the cached ones (Tern's and llama.cpp's,
    /// named OWNER/NAME:QUANT; a split model by its first part; a name already taken keeps its first file), then the
    /// preset file's sections applied (and its <c>model =</c> entries added).
    /// </summary>
    internal static IReadOnlyList<ModelEntry> RouterModels(string? directory, string? preset, IReadOnlyList<Hub.CachedModel> cached)
    {
        var models = directory is null ? [] : ModelCatalog.FromDirectory(directory).ToList();
        var names = models.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var c in cached.Where(c => !ModelCatalog.IsLaterSplitPart(c.Path)))
        {
            if (names.Add(c.Name))
                models.Add(new ModelEntry(c.Name, c.Path) { Source = "cache" });
        }

        IReadOnlyList<ModelEntry> result = preset is null ? models : ModelPresets.Apply(models, preset);
        return result.Count > 0 ? result
            : throw new ArgumentException($"no models to serve: {directory ?? "--models-dir"} holds no .gguf file and the model caches are empty");
    }

    /// <summary>llama.cpp's --pooling names (<c>none</c> and <c>rank</c> give no one vector per input, so they are refused).</summary>
    internal static Pooling ParsePooling(string name) => name switch
    {
        "mean" => Pooling.Mean,
        "cls" => Pooling.Cls,
        "last" => Pooling.Last,
        _ => throw new ArgumentException($"--pooling must be mean, cls or last, got '{name}'"),
    };

    /// <summary>llama-server's names: <c>auto</c> and <c>deepseek</c> put reasoning in reasoning_content, <c>none</c> leaves it in content.</summary>
    internal static ReasoningFormat ParseReasoningFormat(string name) => name switch
    {
        "auto" or "deepseek" => ReasoningFormat.Auto,
        "none" => ReasoningFormat.None,
        _ => throw new ArgumentException($"--reasoning-format must be auto, deepseek or none, got '{name}'"),
    };

    internal static string ParseLogFormat(string name) =>
        name is "text" or "json" ? name : throw new ArgumentException($"--log-format must be text or json, got '{name}'");

    /// <summary>The name, once it is known to be a KV cache type (the server parses it again when it loads).</summary>
    private static string CacheType(string name, string flag)
    {
        TernCommand.ParseKvType(name, flag);
        return name;
    }

    /// <summary>A size such as 1G, 512M, 64k or 1048576 (binary units, an optional B or iB after the letter), positive.</summary>
    internal static long ParseSize(string text, string flag)
    {
        string t = text.Trim().ToUpperInvariant();
        t = t.EndsWith("IB", StringComparison.Ordinal) ? t[..^2] : t.Length > 1 && t.EndsWith('B') ? t[..^1] : t;
        int shift = t.Length == 0 ? 0 : t[^1] switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        string digits = shift == 0 ? t : t[..^1];
        if (!long.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long value)
            || value <= 0 || value > long.MaxValue >> shift)
        {
            throw new ArgumentException($"{flag} must be a positive size such as 1G, 512M or a number of bytes, got '{text}'");
        }

        return value << shift;
    }

    private static string[] List(string? commaList) =>
        commaList?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];

    internal static int Check(int value, int min, int max, string flag) =>
        value >= min && value <= max ? value : throw new ArgumentException($"{flag} must be between {min} and {max}, got {value}");
}
