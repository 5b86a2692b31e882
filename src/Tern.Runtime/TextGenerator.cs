using System.Diagnostics;
using Tern.Models;
using Tern.Runtime.Sampling;
using Tern.Tokenizers;

namespace Tern.Runtime;

/// <summary>What to generate: sampling, limits and stop strings.</summary>
public sealed record GenerationOptions
{
    public SamplingParams Sampling { get; init; } = new();

    /// <summary>Most tokens to generate; null means until end of generation or a full context.</summary>
    public int? MaxTokens { get; init; }

    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Most prompt tokens per forward pass.</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>Constrains the generated text to this grammar (GBNF, or one built from a JSON schema); null = free text.</summary>
    public Grammar.Grammar? Grammar { get; init; }
}

/// <summary>The outcome of one generation, with the timings `tern run` reports.</summary>
public sealed record GenerationResult(string Text, int PromptTokens, int GeneratedTokens, StopReason StopReason, TimeSpan PromptTime, TimeSpan GenerationTime)
{
    public double PromptTokensPerSecond => PromptTokens / Math.Max(PromptTime.TotalSeconds, 1e-9);

    public double GenerationTokensPerSecond => GeneratedTokens / Math.Max(GenerationTime.TotalSeconds, 1e-9);
}

/// <summary>
/// Generates text for one prompt at a time: the prompt is evaluated in batches, then one token per step is sampled,
/// checked against end-of-generation, the token limit and the context, detokenized incrementally and passed through
/// the stop strings before it is streamed.
/// </summary>
public sealed class TextGenerator(IModelRunner model, Tokenizer tokenizer, int contextLength)
{
    public int ContextLength { get; } = contextLength > 0 ? contextLength : throw new ArgumentOutOfRangeException(nameof(contextLength));

    public GenerationResult Generate(string prompt, GenerationOptions options, Action<string>? onText = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        int vocab = model.Config.VocabSize;
        options.Sampling.Validate(vocab);
        int[] promptTokens = tokenizer.Encode(prompt, addSpecial: true, parseSpecial: true);
        if (promptTokens.Length == 0)
            throw new ArgumentException("the prompt is empty: nothing to generate from", nameof(prompt));
        if (promptTokens.Length >= ContextLength)
            throw new ArgumentException($"the prompt has {promptTokens.Length} tokens, which leaves no room in a context of {ContextLength}", nameof(prompt));

        using var cache = model.CreateState(new StateOptions { CapacityTokens = ContextLength });
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        var logits = new float[vocab];
        var history = new List<int>(promptTokens);

        // Prompt: batches of up to BatchSize tokens; only the last token's logits are needed.
        var clock = Stopwatch.StartNew();
        for (int start = 0; start < promptTokens.Length; start += options.BatchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            int n = Math.Min(options.BatchSize, promptTokens.Length - start);
            batch.Clear();
            batch.AddRange(promptTokens.AsSpan(start, n), start, sequence, logitsForLast: start + n == promptTokens.Length);
            model.Forward(batch, cache, logits);
        }

        var promptTime = clock.Elapsed;
        clock.Restart();

        var sampler = new SamplerChain(options.Sampling, vocab);
        var grammar = options.Grammar is null ? null : new Grammar.GrammarConstraint(options.Grammar, Grammar.GrammarVocabulary.For(tokenizer));
        var stop = new StopCondition(options.MaxTokens, tokenizer.IsEndOfGeneration);
        var stopStrings = new StopStringMatcher(options.Stop);
        var detokenizer = tokenizer.CreateDetokenizer(removeSpecial: true, renderSpecial: false);
        var text = new System.Text.StringBuilder();
        void Emit(string s)
        {
            if (s.Length == 0)
                return;
            text.Append(s);
            onText?.Invoke(s);
        }

        int generated = 0;
        var reason = options.MaxTokens == 0 ? StopReason.Length : StopReason.None;
        while (reason == StopReason.None)
        {
            cancellation.ThrowIfCancellationRequested();
            int token = sampler.Sample(logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history), [], grammar).Token;
            grammar?.Accept(token);
            reason = stop.Check(token, generated + 1);
            if (reason == StopReason.None && grammar is { MustEnd: true })
                reason = StopReason.GrammarComplete; // the text is whole and nothing may follow
            if (reason == StopReason.EndOfGeneration)
                break;
            generated++;
            history.Add(token);
            var piece = stopStrings.Push(detokenizer.Append(token));
            Emit(piece.Text);
            if (piece.Stopped)
            {
                reason = StopReason.StopString;
                break;
            }

            if (reason == StopReason.None && history.Count >= ContextLength)
                reason = StopReason.Length;
            if (reason != StopReason.None)
                break;

            batch.Clear();
            batch.Add(token, history.Count - 1, sequence, logits: true);
            model.Forward(batch, cache, logits);
        }

        if (reason != StopReason.StopString)
        {
            var rest = stopStrings.Push(detokenizer.Flush());
            Emit(rest.Text);
            if (rest.Stopped)
                reason = StopReason.StopString;
            else
                Emit(stopStrings.Flush());
        }

        return new GenerationResult(text.ToString(), promptTokens.Length, generated, reason, promptTime, clock.Elapsed);
    }
}
