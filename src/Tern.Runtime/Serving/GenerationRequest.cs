using Tern.Runtime.Sampling;
using GrammarRules = Tern.Runtime.Grammar.Grammar;

namespace Tern.Runtime.Serving;

/// <summary>One request to an <see cref="InferenceEngine"/>: an already tokenized prompt and how to continue it.</summary>
public sealed record GenerationRequest
{
    /// <summary>Names the request in events, stats and slots; null = the engine assigns "req-N".</summary>
    public string? Id { get; init; }

    /// <summary>The prompt's token ids (the caller renders the chat template and tokenizes, special tokens included).</summary>
    public required IReadOnlyList<int> PromptTokens { get; init; }

    public SamplingParams Sampling { get; init; } = new();

    /// <summary>Most tokens to generate; null = until end of generation or a full context.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Generation ends before the first of these in the text; no part of one is ever streamed.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>How many most likely alternatives to report with each generated token (0 = none).</summary>
    public int TopLogprobs { get; init; }

    /// <summary>Constrains the generated text to this grammar (structured output); null = free text.</summary>
    public GrammarRules? Grammar { get; init; }

    /// <summary>
    /// Set: the grammar is lazy (<see cref="Tern.Runtime.Grammar.LazyGrammarConstraint"/>): the text is free until it writes
    /// this trigger, which the grammar starts with, and free again once the grammar is complete (strict tool calls).
    /// </summary>
    public string? GrammarTrigger { get; init; }

    /// <summary>
    /// Set: an embedding request. The prompt runs and its tokens' hidden states (after the output norm) are pooled
    /// into one <see cref="GenerationEmbedding"/>; nothing is generated.
    /// </summary>
    public Pooling? Embedding { get; init; }

    /// <summary>llama-server's id_slot: the slot whose cache (for <see cref="InferenceEngine.SaveSlotAsync"/>) this
    /// request's tokens become; null = the slot it runs in. It may run in any slot: the prefix cache is shared.</summary>
    public int? Slot { get; init; }
}
