namespace Tern.Server;

/// <summary>What `tern serve` was asked for.</summary>
public sealed record ServerOptions
{
    /// <summary>The one model served (single-model mode); unused when <see cref="Models"/> is set.</summary>
    public string ModelPath { get; init; } = "";

    /// <summary>
    /// Router mode (--models-dir, --models-preset): the models clients pick by the request's <c>model</c>, loaded on
    /// first use; empty: single-model mode over <see cref="ModelPath"/>.
    /// </summary>
    public IReadOnlyList<ModelEntry> Models { get; init; } = [];

    /// <summary>Router mode: most models loaded at once (--models-max); the least recently used idle one is unloaded first.</summary>
    public int ModelsMax { get; init; } = 4;

    /// <summary>Router mode: most memory the loaded models may take together (file size + KV cache + recurrent state); null: no limit.</summary>
    public long? MemoryBudgetBytes { get; init; }

    /// <summary>The prefix cache's disk tier (--cache-dir); null: RAM only.</summary>
    public string? CacheDir { get; init; }

    /// <summary>Most disk each model's blocks take under <see cref="CacheDir"/> (--cache-disk-size).</summary>
    public long CacheDiskBytes { get; init; } = DefaultCacheDiskBytes;

    public const long DefaultCacheDiskBytes = 10L << 30;

    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0 picks a free port (tests).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Context per sequence; 0 means the model's, at most 4096.</summary>
    public int ContextPerSequence { get; init; }

    public int Parallel { get; init; } = 4;
    public int Threads { get; init; }

    /// <summary>Told where a model's loading has got (the CLI draws its loading line on a terminal).</summary>
    public Action<Tern.Models.LoadProgress>? LoadProgress { get; init; }

    /// <summary>Recurrent-state copies the prefix cache keeps for hybrid models (llama-server's --ctx-checkpoints).</summary>
    public int RecurrentCheckpoints { get; init; } = 8;

    /// <summary>KV cache element types (-ctk/-ctv): f16, q8_0 or q4_0.</summary>
    public string CacheTypeK { get; init; } = "f16";
    public string CacheTypeV { get; init; } = "f16";
    public string? ApiKey { get; init; }

    /// <summary>The model name clients see; default: the file name without extension.</summary>
    public string? Alias { get; init; }

    public string? ChatTemplateFile { get; init; }

    /// <summary>Read special-token text inside message content as control tokens (the old behaviour: content can forge turns).</summary>
    public bool SpecialInContent { get; init; }

    public int QueueCapacity { get; init; } = 64;

    /// <summary>Built-in tools to enable (`all` or a comma list); null: none.</summary>
    public string? Tools { get; init; }

    /// <summary>Where the tools may read, write and run commands; default the current directory.</summary>
    public string? Workspace { get; init; }

    /// <summary>With tools on, an MCP config file whose servers' tools join the built-in ones as NAME_TOOL (--mcp-config).</summary>
    public string? McpConfig { get; init; }

    /// <summary>How the MCP servers are run (sandbox limits, restarts); the call timeout is <see cref="ToolTimeoutSeconds"/>.</summary>
    public Tern.Tools.Mcp.McpOptions Mcp { get; init; } = new();

    public int ToolTimeoutSeconds { get; init; } = 10;
    public int MaxToolSteps { get; init; } = 8;
    public string? AuditLog { get; init; }

    /// <summary>With tools on, Host names accepted besides loopback and the listening address (--allowed-hosts).</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>Browser origins (http://localhost:3000) allowed to call the API: CORS, and with tools on, past the Origin check.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];

    /// <summary>Run the shell tool without bubblewrap (announced loudly at start).</summary>
    public bool UnsafeShell { get; init; }

    /// <summary>Most disk the workspace may take; null for its size at start plus 1 GiB.</summary>
    public long? WorkspaceQuotaBytes { get; init; }

    /// <summary>Where the model's reasoning goes (--reasoning-format).</summary>
    public ReasoningFormat ReasoningFormat { get; init; } = ReasoningFormat.Auto;

    /// <summary>Largest request body accepted (413 above).</summary>
    public long MaxBodyBytes { get; init; } = 8 << 20;

    /// <summary>How /v1/embeddings pools token states (--pooling); null: the model's <c>pooling_type</c>, else mean.</summary>
    public Tern.Runtime.Serving.Pooling? Pooling { get; init; }

    /// <summary>The log's format (--log-format): text (one line a message) or json (one object a line).</summary>
    public string LogFormat { get; init; } = "text";

    /// <summary>Append the log to this file (--log-file) instead of the console.</summary>
    public string? LogFile { get; init; }

    /// <summary>Without a log file, log to the console (the CLI; tests leave it off).</summary>
    public bool LogToConsole { get; init; }

    /// <summary>Debug messages too, ASP.NET Core's included (-v).</summary>
    public bool Verbose { get; init; }

    /// <summary>Log the prompt as the model saw it and error messages that may quote the request (--log-prompts); off: never.</summary>
    public bool LogPrompts { get; init; }

    /// <summary>--slot-save-path: the folder POST /slots/{id}?action=save|restore reads and writes; null: off.</summary>
    public string? SlotSavePath { get; init; }
}

/// <summary>What the server does with a chat reply's reasoning block (llama-server's --reasoning-format).</summary>
public enum ReasoningFormat
{
    /// <summary>Reasoning goes to <c>reasoning_content</c>, apart from <c>content</c> (llama-server's <c>auto</c> and <c>deepseek</c>).</summary>
    Auto,

    /// <summary>The reply's text is left in <c>content</c>, markers and all (tool calls inside the block are still not parsed).</summary>
    None,
}
