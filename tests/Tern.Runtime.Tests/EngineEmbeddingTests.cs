using Tern.Models;
using Tern.Runtime.Serving;

namespace Tern.Runtime.Tests;

/// <summary>
/// Embedding requests in the engine: the prompt runs in as many steps as the budget cuts it into, beside generating
/// requests, and its pooled vector is what one forward pass over the whole prompt gives.
/// </summary>
public sealed class EngineEmbeddingTests : IDisposable
{
    private readonly EngineTestKit _kit = new();

    [Theory]
    [InlineData(Pooling.Mean)]
    [InlineData(Pooling.Cls)]
    [InlineData(Pooling.Last)]
    public async Task A_chunked_prompt_pools_as_one_forward_pass(Pooling pooling)
    {
        int[] prompt = _kit.Encode(string.Concat(Enumerable.Repeat("Lily saw a big red ball in the park. ", 12)));
        Assert.True(prompt.Length > 100);
        float[] expected = Direct(prompt, pooling);

        using var engine = _kit.Engine(new EngineOptions { Parallel = 2, StepTokenBudget = 32 });
        var log = new StepLog();
        log.Attach(engine);
        var story = engine.Submit(new GenerationRequest { PromptTokens = _kit.Encode("Once upon a time"), Sampling = _kit.NoEnd, MaxTokens = 40 }, EngineTestKit.Token);
        var embedding = await engine.Submit(new GenerationRequest { PromptTokens = prompt, Embedding = pooling }, EngineTestKit.Token).ReadEmbeddingAsync(EngineTestKit.Token);
        var generated = await story.ReadToEndAsync(EngineTestKit.Token);

        Assert.True(log.Steps.Count(s => s.Chunks.Any(c => c.Prompt && c.Count > 1 && c.Start > 0)) > 1, "the prompt ran in several chunks");
        Assert.Equal(40, generated.Finished.Usage.CompletionTokens);
        Assert.Equal(0, embedding.Finished.Usage.CompletionTokens);
        Assert.Equal(prompt.Length, embedding.Finished.Usage.PromptTokens);
        Assert.Equal(FinishReason.Stop, embedding.Finished.Reason);
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], embedding.Vector[i], 4);
    }

    /// <summary>The pooled hidden states of one forward pass over the prompt.</summary>
    private float[] Direct(int[] prompt, Pooling pooling)
    {
        var model = _kit.Model;
        int d = model.Config.EmbeddingLength;
        using var state = model.CreateState(1024);
        var sequence = state.CreateSequence();
        var batch = new TokenBatch();
        for (int i = 0; i < prompt.Length; i++)
            batch.Add(prompt[i], i, sequence, logits: false, hidden: true);
        var hidden = new float[prompt.Length * d];
        model.Forward(batch, state, [], hidden);
        var pooled = new float[d];
        var rows = pooling switch { Pooling.Mean => Enumerable.Range(0, prompt.Length), Pooling.Cls => [0], _ => [prompt.Length - 1] };
        foreach (int row in rows)
            System.Numerics.Tensors.TensorPrimitives.Add(pooled, hidden.AsSpan(row * d, d), pooled);
        if (pooling == Pooling.Mean)
            System.Numerics.Tensors.TensorPrimitives.Divide(pooled, prompt.Length, pooled);
        return pooled;
    }

    public void Dispose() => _kit.Dispose();
}
