using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Tern.Runtime.Sampling;

/// <summary>Top-k, top-p and min-p over candidate lists, with the selection helpers they need.</summary>
internal static partial class SamplerSteps
{
    /// <summary>
    /// Top-k, then top-p, then min-p over the (biased, penalised) logits; writes the survivors to
    /// <paramref name="buffer"/> and returns how many (zero when every token is banned). Both spans are
    /// vocabulary-sized; <paramref name="scratch"/> is overwritten.
    /// </summary>
    public static int Filter(ReadOnlySpan<float> logits, SamplingParams p, Span<Candidate> buffer, Span<float> scratch)
    {
        // Top-p and min-p both keep a best-first prefix and min-p's cut depends only on the best logit, so
        // trimming by min-p first gives the same set and keeps top-p's sorting short. Top-p still normalises
        // over the whole top-k set, as it does right after top-k in llama.cpp.
        int n;
        float maxLogit;
        double sumExp = 0;
        if (p.TopK > 0 && p.TopK < logits.Length)
        {
            n = TopK(logits, p.TopK, buffer);
            if (n == 0)
                return 0;
            maxLogit = MaxLogit(buffer[..n]);
            if (p.TopP < 1)
                sumExp = SumExp(buffer[..n], maxLogit);
            if (p.MinP > 0)
                n = MinP(buffer[..n], p.MinP, maxLogit);
        }
        else
        {
            // no top-k: vectorised passes over the vocabulary, and only min-p's survivors become candidates
            maxLogit = TensorPrimitives.Max(logits);
            if (!float.IsFinite(maxLogit))
                return 0;
            if (p.TopP < 1)
                sumExp = SumExp(logits, maxLogit, scratch);
            n = AtLeast(logits, p.MinP > 0 ? maxLogit + MathF.Log(p.MinP) : float.MinValue, buffer); // MinValue drops only banned tokens
        }
        if (p.TopP < 1)
            n = TopP(buffer[..n], p.TopP, maxLogit, sumExp);
        return n;
    }

    /// <summary>
    /// Writes the <paramref name="k"/> best tokens (all tokens when k is 0 or not smaller than the vocabulary)
    /// to <paramref name="output"/>, unsorted, skipping banned (negative infinity) ones; returns how many.
    /// A bounded heap selects in O(V log k) without sorting the vocabulary.
    /// </summary>
    public static int TopK(ReadOnlySpan<float> logits, int k, Span<Candidate> output)
    {
        int n = 0;
        if (k <= 0 || k >= logits.Length)
        {
            for (int id = 0; id < logits.Length; id++)
            {
                if (!float.IsNegativeInfinity(logits[id]))
                    output[n++] = new Candidate(id, logits[id]);
            }
            return n;
        }
        // max-heap on rank: the root is the worst candidate kept so far
        var heap = output[..k];
        float worstKept = float.NegativeInfinity;
        for (int id = 0; id < logits.Length; id++)
        {
            float logit = logits[id];
            if (float.IsNegativeInfinity(logit))
                continue;
            if (n < k)
            {
                heap[n] = new Candidate(id, logit);
                SiftUp(heap, n++);
                worstKept = heap[0].Logit;
            }
            else if (logit > worstKept) // ids only grow, so an equal logit would rank below the root
            {
                heap[0] = new Candidate(id, logit);
                SiftDown(heap);
                worstKept = heap[0].Logit;
            }
        }
        return n;
    }

    /// <summary>Writes every token whose logit is at least <paramref name="threshold"/> (never a banned one) to <paramref name="output"/>.</summary>
    public static int AtLeast(ReadOnlySpan<float> logits, float threshold, Span<Candidate> output)
    {
        int n = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            if (logits[id] >= threshold)
                output[n++] = new Candidate(id, logits[id]);
        }
        return n;
    }

    public static float MaxLogit(ReadOnlySpan<Candidate> candidates)
    {
        var best = candidates[0];
        foreach (var c in candidates[1..])
        {
            if (c.IsBetterThan(best))
                best = c;
        }
        return best.Logit;
    }

    /// <summary>Σ exp(logit - max): the softmax denominator, shifted for stability.</summary>
    public static double SumExp(ReadOnlySpan<Candidate> candidates, float maxLogit)
    {
        double sum = 0;
        foreach (var c in candidates)
            sum += MathF.Exp(c.Logit - maxLogit);
        return sum;
    }

    /// <summary>Keeps, in order, the candidates whose probability is at least p times the best one's; returns the kept count.</summary>
    public static int MinP(Span<Candidate> candidates, float p, float maxLogit)
    {
        float threshold = maxLogit + MathF.Log(p);
        int kept = 0;
        foreach (var c in candidates)
        {
            if (c.Logit >= threshold)
                candidates[kept++] = c;
        }
        return kept;
    }

    /// <summary>
    /// Nucleus filter: keeps the shortest best-first prefix whose probability reaches <paramref name="p"/> and
    /// returns its length; that prefix ends up sorted at the front. Probabilities are normalised by
    /// <paramref name="sumExp"/>, which covers the whole top-k set even when the span holds only part of it.
    /// Sorts in growing chunks (select the next best, sort only those), so a large candidate list whose
    /// nucleus is small is never fully sorted.
    /// </summary>
    public static int TopP(Span<Candidate> candidates, float p, float maxLogit, double sumExp)
    {
        double cumulative = 0;
        int sorted = 0;
        for (int chunk = 64; sorted < candidates.Length; chunk *= 2)
        {
            int end = Math.Min(candidates.Length, sorted + chunk);
            SelectBest(candidates[sorted..], end - sorted);
            Candidate.Sort(candidates[sorted..end]);
            for (int i = sorted; i < end; i++)
            {
                cumulative += MathF.Exp(candidates[i].Logit - maxLogit) / sumExp;
                if (cumulative >= p)
                    return i + 1;
            }
            sorted = end;
        }
        return candidates.Length;
    }

    /// <summary>Quickselect: moves the <paramref name="count"/> best candidates to the front, in no particular order.</summary>
    public static void SelectBest(Span<Candidate> candidates, int count)
    {
        if (count >= candidates.Length)
            return;
        var keys = MemoryMarshal.Cast<Candidate, ulong>(candidates);
        int target = count - 1, lo = 0, hi = keys.Length - 1;
        while (lo < hi && target >= lo && target <= hi)
        {
            int mid = lo + (hi - lo) / 2;
            ulong pivot = MedianOf3(keys[lo], keys[mid], keys[hi]);
            int i = lo, j = hi;
            while (i <= j)
            {
                while (keys[i] < pivot)
                    i++;
                while (keys[j] > pivot)
                    j--;
                if (i <= j)
                {
                    (keys[i], keys[j]) = (keys[j], keys[i]);
                    i++;
                    j--;
                }
            }
            // now keys[lo..j] <= pivot <= keys[i..hi]; whatever lies between equals the pivot and is in place
            if (target <= j)
                hi = j;
            else if (target >= i)
                lo = i;
            else
                break;
        }
    }

    private static ulong MedianOf3(ulong a, ulong b, ulong c) =>
        a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);

    private static void SiftUp(Span<Candidate> heap, int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!heap[parent].IsBetterThan(heap[i]))
                break;
            (heap[parent], heap[i]) = (heap[i], heap[parent]);
            i = parent;
        }
    }

    private static void SiftDown(Span<Candidate> heap)
    {
        int i = 0;
        while (true)
        {
            int worst = 2 * i + 1;
            if (worst >= heap.Length)
                break;
            if (worst + 1 < heap.Length && heap[worst].IsBetterThan(heap[worst + 1]))
                worst++;
            if (!heap[i].IsBetterThan(heap[worst]))
                break;
            (heap[i], heap[worst]) = (heap[worst], heap[i]);
            i = worst;
        }
    }
}
