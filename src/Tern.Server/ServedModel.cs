using Tern.Kernels;
using Tern.Models;
using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;
using Tern.Tokenizers;

namespace Tern.Server;

/// <summary>The loaded model with everything the routes need: engine, tokenizer, template, name, defaults.</summary>
internal sealed class ServedModel(IModelRunner model, Tokenizer tokenizer, InferenceEngine engine, PromptTemplate template, SamplingParams defaults, string name) : IDisposable
{
    public IModelRunner Model { get; } = model;
    public Tokenizer Tokenizer { get; } = tokenizer;
    public InferenceEngine Engine { get; } = engine;
    public PromptTemplate Template { get; } = template;
    public string Name { get; } = name;
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;

    /// <summary>The family's sampling defaults, or what the file recommends (general.sampling.*), or the preset's.</summary>
    public SamplingParams Defaults { get; } = defaults;

    public int VocabSize => Model.Config.VocabSize;

    /// <summary>Loads <paramref name="path"/> with the server's flags, <paramref name="settings"/> overriding them; its
    /// passes run on <paramref name="pool"/> when given (shared by the router's models), else on a pool of its own.</summary>
    public static ServedModel Load(ServerOptions options, string path, string name, ModelSettings settings, TextWriter log, WorkerPool? pool = null)
    {
        var model = DecoderModel.Load(path, new ModelOptions { Threads = options.Threads, Pool = pool, Progress = options.LoadProgress });
        try
        {
            var tokenizer = Tokenizer.FromGguf(model.File);
            var template = PromptTemplate.Create(model.File, tokenizer, settings.ChatTemplateFile ?? options.ChatTemplateFile, options.SpecialInContent, log);
            var d = DefaultSampling.For(model.File);
            d = d with
            {
                Temperature = settings.Temperature ?? d.Temperature,
                TopP = settings.TopP ?? d.TopP,
                TopK = settings.TopK ?? d.TopK,
                MinP = settings.MinP ?? d.MinP,
            };
            int contextFlag = settings.ContextPerSequence ?? options.ContextPerSequence;
            int context = contextFlag > 0 ? contextFlag : Math.Min(model.Config.ContextLength, EngineOptions.DefaultMaxContext);
            var engine = new InferenceEngine(model, tokenizer, new EngineOptions
            {
                Parallel = settings.Parallel ?? options.Parallel,
                ContextPerSequence = context,
                QueueCapacity = options.QueueCapacity,
                KeyType = KvCache.ParseType(settings.CacheTypeK ?? options.CacheTypeK),
                ValueType = KvCache.ParseType(settings.CacheTypeV ?? options.CacheTypeV),
                RecurrentCheckpoints = options.RecurrentCheckpoints,
                DiskCache = DiskCache(options, name, log),
            });
            log.WriteLine($"model: {name} ({model.Config.Architecture}, {path})");
            log.WriteLine($"context: {engine.ContextPerSequence} tokens per sequence × {engine.Parallel} sequences, KV cache {engine.KvTypes}, {engine.ReservedKvBytes / (1024.0 * 1024):F1} MiB reserved"
                + (engine.ReservedRecurrentBytes > 0 ? $", recurrent state {engine.ReservedRecurrentBytes / (1024.0 * 1024):F1} MiB" : ""));
            return new ServedModel(model, tokenizer, engine, template, d, name);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static DiskCacheOptions? DiskCache(ServerOptions options, string name, TextWriter log)
    {
        if (options.CacheDir is not { } dir)
            return null;
        var warnings = TextWriter.Synchronized(log);
        return new DiskCacheOptions { Directory = dir, MaxBytes = options.CacheDiskBytes, Warn = message => warnings.WriteLine($"warning: {name}: {message}") };
    }

    public void Dispose()
    {
        Engine.Dispose();
        Model.Dispose();
    }
}
