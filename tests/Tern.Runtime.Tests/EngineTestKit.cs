using System.Collections.Concurrent;
using Tern.Models;
using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;
using Tern.Tokenizers;

namespace Tern.Runtime.Tests;

/// <summary>The real TinyStories model and helpers shared by the engine tests.</summary>
internal sealed class EngineTestKit : IDisposable
{
    public static readonly SamplingParams Greedy = new() { Temperature = 0 };

    public EngineTestKit(string model = "models/stories260K.gguf")
    {
        Model = DecoderModel.Load(SharedData.Path(model));
        Tokenizer = Tokenizer.FromGguf(Model.File);
        NoEnd = Greedy with { LogitBias = Enumerable.Range(0, Model.Config.VocabSize).Where(Tokenizer.IsEndOfGeneration).ToDictionary(t => t, _ => float.NegativeInfinity) };
    }

    public DecoderModel Model { get; }

    public Tokenizer Tokenizer { get; }

    /// <summary>Greedy, with end-of-generation banned so a request runs exactly to its limit.</summary>
    public SamplingParams NoEnd { get; }

    public static CancellationToken Token => TestContext.Current.CancellationToken;

    public int[] Encode(string text) => Tokenizer.Encode(text, addSpecial: true, parseSpecial: true);

    public InferenceEngine Engine(EngineOptions? options = null) => new(Model, Tokenizer, options);

    /// <summary>The request run on an engine of its own, nothing else running.</summary>
    public async Task<GenerationResponse> RunAlone(GenerationRequest request, EngineOptions options)
    {
        using var engine = Engine(options with { Parallel = 1, StepTokenBudget = Math.Max(options.StepTokenBudget, 1) });
        return await engine.Submit(request, Token).ReadToEndAsync(Token);
    }

    public static int[] Ids(GenerationResponse response) => response.Tokens.Select(t => t.Id).ToArray();

    public void Dispose() => Model.Dispose();
}

/// <summary>Collects what each engine step ran (the observer is called on the engine's loop thread).</summary>
internal sealed class StepLog
{
    public ConcurrentQueue<StepRecord> Steps { get; } = new();

    public Action<StepRecord>? Then { get; set; }

    public void Attach(InferenceEngine engine) => engine.StepObserver = step =>
    {
        Steps.Enqueue(step);
        Then?.Invoke(step);
    };
}
