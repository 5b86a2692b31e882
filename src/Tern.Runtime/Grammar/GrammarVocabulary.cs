using System.Runtime.CompilerServices;
using Tern.Tokenizers;

namespace Tern.Runtime.Grammar;

/// <summary>
/// What a grammar sees of a vocabulary: each token's bytes as the engine's detokenizer writes them (control tokens
/// write nothing), which tokens end generation, and the token trie. Built once per tokenizer and shared.
/// </summary>
public sealed class GrammarVocabulary
{
    private static readonly ConditionalWeakTable<Tokenizer, GrammarVocabulary> Cache = [];

    public GrammarVocabulary(IReadOnlyList<byte[]> pieces, Func<int, bool> isEndOfGeneration)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        ArgumentNullException.ThrowIfNull(isEndOfGeneration);
        Pieces = pieces;
        EndOfGeneration = Enumerable.Range(0, pieces.Count).Where(isEndOfGeneration).ToArray();
        IsEndOfGeneration = new bool[pieces.Count];
        foreach (int t in EndOfGeneration)
            IsEndOfGeneration[t] = true;
        Trie = new TokenTrie(Enumerable.Range(0, pieces.Count).Select(i => IsEndOfGeneration[i] ? [] : pieces[i]).ToArray());
    }

    /// <summary>The tokenizer's vocabulary (cached per tokenizer).</summary>
    public static GrammarVocabulary For(Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Cache.GetValue(tokenizer, t => new GrammarVocabulary(
            Enumerable.Range(0, t.VocabSize).Select(i => t.TokenToBytes(i, renderSpecial: false)).ToArray(), t.IsEndOfGeneration));
    }

    public int Count => Pieces.Count;

    internal IReadOnlyList<byte[]> Pieces { get; }

    internal int[] EndOfGeneration { get; }

    internal bool[] IsEndOfGeneration { get; }

    internal TokenTrie Trie { get; }
}
