namespace Tern.Runtime.Serving;

/// <summary>The tokens one sequence contributes to a step: positions [Start, Start + Count) of its tokens.</summary>
internal readonly record struct ScheduledChunk(Sequence Sequence, int Start, int Count, bool WantsLogits);

/// <summary>
/// Decides what one forward pass runs (vLLM v1's scheduler, without preemption: the KV pool is sized so every
/// admitted sequence can reach its full context). Every decoding sequence gets its next token first, so running
/// streams keep flowing; the rest of the token budget goes to prompts in admission order, in chunks, so a long
/// prompt is processed over several steps instead of stalling everyone.
/// </summary>
internal static class Scheduler
{
    /// <param name="checkpointEvery">For a model with recurrent state (0 otherwise): prompt chunks end at multiples of
    /// it and at the prompt's last whole block (<paramref name="blockTokens"/>), where the engine copies the state.</param>
    public static void Plan(IReadOnlyList<Sequence> running, int budget, List<ScheduledChunk> plan, int checkpointEvery = 0, int blockTokens = 1)
    {
        plan.Clear();
        foreach (var s in running)
        {
            if (!s.Prefilling && budget > 0)
            {
                plan.Add(new ScheduledChunk(s, s.Kv.Length, 1, WantsLogits: true));
                budget--;
            }
        }

        foreach (var s in running)
        {
            if (!s.Prefilling || budget == 0)
                continue;
            int start = s.Kv.Length;
            int count = Math.Min(budget, s.Prompt.Length - start);
            if (checkpointEvery > 0)
                count = Math.Min(count, NextCheckpoint(start, s.Prompt.Length, checkpointEvery, blockTokens) - start);
            plan.Add(new ScheduledChunk(s, start, count, WantsLogits: start + count == s.Prompt.Length));
            budget -= count;
        }
    }

    /// <summary>The first checkpoint position after <paramref name="start"/> (the prompt's end when none is left).</summary>
    public static int NextCheckpoint(int start, int promptLength, int every, int blockTokens)
    {
        int lastBlock = LastWholeBlock(promptLength, blockTokens);
        int next = (start / every + 1) * every;
        return start < lastBlock && lastBlock < next ? lastBlock : Math.Min(next, promptLength);
    }

    /// <summary>Whether a prompt position is one where the state is copied (see <see cref="NextCheckpoint"/>).</summary>
    public static bool IsCheckpoint(int position, int promptLength, int every, int blockTokens) =>
        position > 0 && (position % every == 0 || position == LastWholeBlock(promptLength, blockTokens));

    /// <summary>The start of the block holding the prompt's last token: the last checkpoint, since that token always
    /// runs after it (its logits are wanted), so a resumed request has at least one token to evaluate.</summary>
    private static int LastWholeBlock(int promptLength, int blockTokens) => (promptLength - 1) / blockTokens * blockTokens;
}
