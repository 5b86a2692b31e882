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
    public static void Plan(IReadOnlyList<Sequence> running, int budget, List<ScheduledChunk> plan)
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
            plan.Add(new ScheduledChunk(s, start, count, WantsLogits: start + count == s.Prompt.Length));
            budget -= count;
        }
    }
}
