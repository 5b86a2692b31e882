using Tern.Gguf;

namespace Tern.Models;

/// <summary>
/// What the engine, <c>tern run</c>, bench and logits need from a model backend: its configuration, state storage
/// laid out for its layers, and a forward pass over a step batch (token ids, positions, each token's sequence state;
/// which tokens want logits) that writes the logits of those tokens. The CPU <see cref="DecoderModel"/> is one
/// implementation; another backend implements this interface and nothing else.
/// </summary>
public interface IModelRunner : IDisposable
{
    ModelConfig Config { get; }

    /// <summary>The model file (metadata: tokenizer, chat template, sampling defaults).</summary>
    GgufFile File { get; }

    /// <summary>Threads the runner computes with.</summary>
    int Threads { get; }

    /// <summary>State storage for this model's layers: KV groups and recurrent slots.</summary>
    StateCache CreateState(StateOptions options);

    /// <summary>
    /// Runs the batch, writing each token's keys, values and recurrent state into <paramref name="state"/>, the
    /// logits of the tokens that want them into <paramref name="logits"/>: [batch.OutputCount, n_vocab], and the hidden
    /// states (after the output norm) of the tokens that want them into <paramref name="hidden"/>:
    /// [batch.HiddenCount, n_embd], both in batch order.
    /// </summary>
    void Forward(TokenBatch batch, StateCache state, Span<float> logits, Span<float> hidden = default);
}

/// <summary>Shorthands over <see cref="IModelRunner"/>.</summary>
public static class ModelRunners
{
    /// <summary>State for <paramref name="sequences"/> sequences within <paramref name="capacityTokens"/> KV
    /// positions in all (tools, bench and tests).</summary>
    public static StateCache CreateState(this IModelRunner runner, int capacityTokens, int blockTokens = 32, GgmlType keyType = GgmlType.F16,
        GgmlType valueType = GgmlType.F16, int sequences = 1) =>
        runner.CreateState(new StateOptions { CapacityTokens = capacityTokens, BlockTokens = blockTokens, KeyType = keyType, ValueType = valueType, RecurrentSlots = sequences });
}
