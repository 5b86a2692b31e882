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

    /// <summary>The family's sampling defaults, or what the file recommends (general.sampling.*).</summary>
    public SamplingParams Defaults { get; } = defaults;

    public int VocabSize => Model.Config.VocabSize;

    public void Dispose()
    {
        Engine.Dispose();
        Model.Dispose();
    }
}
