using Tern.Models;

namespace Tern.Models.Tests;

/// <summary>One forward pass over a prompt in a fresh sequence, with the logits of every position: [tokens, vocab].</summary>
internal static class PromptLogits
{
    public static float[] Of(DecoderModel model, int[] tokens)
    {
        using var cache = model.CreateState(tokens.Length);
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        for (int i = 0; i < tokens.Length; i++)
            batch.Add(tokens[i], i, sequence, logits: true);
        var logits = new float[tokens.Length * model.Config.VocabSize];
        model.Forward(batch, cache, logits);
        return logits;
    }
}
