namespace Tern.Server;

/// <summary>A model the router can load: the name clients send as <c>model</c>, its GGUF file and its own settings.</summary>
public sealed record ModelEntry(string Name, string Path)
{
    public ModelSettings Settings { get; init; } = new();

    /// <summary>Where it was found: "dir", "cache" or "preset" (shown by GET /models).</summary>
    public string Source { get; init; } = "dir";
}

/// <summary>Per-model settings (a --models-preset section); null fields take the server-wide flags.</summary>
public sealed record ModelSettings
{
    public int? ContextPerSequence { get; init; }
    public int? Parallel { get; init; }
    public string? CacheTypeK { get; init; }
    public string? CacheTypeV { get; init; }
    public string? ChatTemplateFile { get; init; }
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public float? MinP { get; init; }

    /// <summary>Load when the server starts (llama-server's <c>load-on-startup</c>).</summary>
    public bool LoadOnStartup { get; init; }
}
