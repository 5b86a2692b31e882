namespace Tern.Runtime.Sampling;

/// <summary>
/// The vocabulary-sized work arrays of a <see cref="SamplerChain"/>. The engine keeps one set per sequence slot and
/// lends it to each request's chain in turn: with a 128k-token vocabulary they are about 2.5 MB, which a request
/// would otherwise take from the large-object heap and leave there for a full collection.
/// </summary>
public sealed class SamplerBuffers(int vocabSize)
{
    private int[]? _counts, _seen;

    public int VocabSize { get; } = vocabSize;

    internal float[] Logits { get; } = new float[vocabSize];
    internal Candidate[] Candidates { get; } = new Candidate[vocabSize];
    internal float[] Scratch { get; } = new float[vocabSize];

    /// <summary>Occurrences per token for the penalties; all zero between two calls.</summary>
    internal int[] Counts => _counts ??= new int[VocabSize];

    /// <summary>The distinct tokens of a penalty window (at most the vocabulary).</summary>
    internal int[] Seen => _seen ??= new int[VocabSize];
}
