using Tern.Runtime.Sampling;

namespace Tern.Runtime.Grammar;

/// <summary>
/// A grammar over a vocabulary's tokens for one sequence: which tokens keep the grammar alive (end-of-generation only
/// once the text is complete; tokens that write nothing never), and the state after each sampled token. The full mask
/// walks the token trie with the grammar state (a refused prefix prunes its subtree) and is cached per state, since
/// states recur (each character inside a JSON string leaves the same one). Not thread-safe.
/// </summary>
public sealed class GrammarConstraint : IGrammarConstraint
{
    private const int CachedMasks = 64;

    /// <summary>Most expansion steps one full mask may take: a grammar that needs more is refused, not left to stall the engine.</summary>
    public const long MaxMaskWork = 5_000_000;

    private readonly GrammarVocabulary _vocab;
    private readonly GrammarStepper _stepper;
    private readonly Dictionary<GrammarPosition, ulong[]> _masks = [];
    private readonly Stack<(int Node, GrammarPosition State)> _walk = new();

    public GrammarConstraint(Grammar grammar, GrammarVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        _vocab = vocabulary ?? throw new ArgumentNullException(nameof(vocabulary));
        _stepper = new GrammarStepper(grammar);
        State = _stepper.Initial();
    }

    internal GrammarPosition State { get; private set; }

    /// <summary>The text so far is a whole sentence of the grammar (end of generation may come).</summary>
    public bool IsComplete => State.IsComplete;

    /// <summary>The text is complete and nothing may follow: generation should end here.</summary>
    public bool MustEnd => State.IsComplete && !State.CanContinue;

    /// <summary>How many full masks were computed (the sampled token was refused and no cached mask fitted).</summary>
    public int MasksComputed { get; private set; }

    public bool Allows(int token)
    {
        if (_vocab.IsEndOfGeneration[token])
            return State.IsComplete;
        var piece = _vocab.Pieces[token];
        if (_masks.TryGetValue(State, out var mask))
            return (mask[token >> 6] & (1UL << token)) != 0;
        return piece.Length > 0 && _stepper.Step(State, piece) is not null;
    }

    public void Restrict(Span<float> logits)
    {
        var mask = Mask();
        if (Array.TrueForAll(mask, m => m == 0))
            throw new GrammarException("no token of the vocabulary can continue the grammar here");
        for (int t = 0; t < logits.Length; t++)
        {
            if ((mask[t >> 6] & (1UL << t)) == 0)
                logits[t] = float.NegativeInfinity;
        }
    }

    /// <summary>Back to the grammar's start (a lazy grammar's next call).</summary>
    internal void Reset() => State = _stepper.Initial();

    /// <summary>Whether <paramref name="bytes"/> can follow the grammar's start; a fresh matcher's check.</summary>
    internal bool Begins(ReadOnlySpan<byte> bytes) => _stepper.Step(_stepper.Initial(), bytes) is not null;

    /// <summary>Moves past text already written (a lazy grammar's trigger and what followed it in its token).</summary>
    internal void AcceptBytes(ReadOnlySpan<byte> bytes) =>
        State = _stepper.Step(State, bytes) ?? throw new GrammarException("the text does not continue the grammar");

    /// <summary>Moves past a sampled token; a token the grammar refuses throws.</summary>
    public void Accept(int token)
    {
        if (_vocab.IsEndOfGeneration[token])
        {
            if (!State.IsComplete)
                throw new GrammarException($"token {token} ends generation before the grammar is complete");
            return;
        }

        var piece = _vocab.Pieces[token];
        State = (piece.Length > 0 ? _stepper.Step(State, piece) : null)
            ?? throw new GrammarException($"token {token} does not continue the grammar");
    }

    /// <summary>Every token that may come next, one bit per token (tests compare it with a token-by-token check).</summary>
    public ulong[] Mask()
    {
        if (_masks.TryGetValue(State, out var cached))
            return cached;
        MasksComputed++;
        var mask = new ulong[(_vocab.Count + 63) / 64];
        if (State.IsComplete)
        {
            foreach (int t in _vocab.EndOfGeneration)
                mask[t >> 6] |= 1UL << t;
        }

        var trie = _vocab.Trie;
        long budget = _stepper.TotalWork + MaxMaskWork;
        _walk.Clear();
        _walk.Push((TokenTrie.Root, State));
        while (_walk.Count > 0)
        {
            var (node, state) = _walk.Pop();
            var bytes = trie.ChildBytes(node);
            var children = trie.ChildNodes(node);
            for (int i = 0; i < bytes.Length; i++)
            {
                if (_stepper.Step(state, bytes[i]) is not { } next)
                    continue;
                if (_stepper.TotalWork > budget)
                    throw new GrammarException($"the grammar is too expensive to follow: over {MaxMaskWork} expansion steps to mask the vocabulary once");
                foreach (int t in trie.Tokens(children[i]))
                    mask[t >> 6] |= 1UL << t;
                _walk.Push((children[i], next));
            }
        }

        if (_masks.Count >= CachedMasks)
            _masks.Clear();
        _masks[State] = mask;
        return mask;
    }
}
