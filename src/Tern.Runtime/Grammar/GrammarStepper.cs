namespace Tern.Runtime.Grammar;

/// <summary>
/// Advances grammar positions byte by byte (llama.cpp's llama_grammar_accept: every stack whose top character set
/// takes the code point moves on, rule references expand into their alternatives). Bounded so a hostile grammar
/// cannot blow up: stacks deeper than <see cref="MaxDepth"/> are dropped (deeper nesting is not allowed), and more
/// than <see cref="MaxStacks"/> live stacks or <see cref="MaxWork"/> expansion steps for one code point throw.
/// Holds scratch space and the interned states: one per thread.
/// </summary>
internal sealed class GrammarStepper(Grammar grammar)
{
    public const int MaxDepth = 1024;
    public const int MaxStacks = 4096;
    public const int MaxWork = 200_000;

    /// <summary>Most distinct states remembered with their transitions (then the memory starts over).</summary>
    public const int MaxInterned = 50_000;

    private static readonly GrammarState Dead = new([]);
    private readonly Dictionary<GrammarState, GrammarState> _interned = [];
    private readonly HashSet<GrammarStack?> _seen = new(NullableStackComparer.Instance);
    private readonly List<GrammarStack?> _out = [];
    private int _work;

    /// <summary>Expansion steps taken so far, all calls together (a mask bounds its own share).</summary>
    public long TotalWork { get; private set; }

    public Grammar Grammar { get; } = grammar;

    /// <summary>The position before any text: the root's alternatives expanded.</summary>
    public GrammarPosition Initial()
    {
        Begin();
        foreach (int start in Grammar.Alternatives[Grammar.Root])
            Expand(start, null);
        return new GrammarPosition(Intern(new GrammarState([.. _out])));
    }

    /// <summary>The position after one more byte, or null when no stack can take it (or the bytes are not UTF-8).</summary>
    public GrammarPosition? Step(GrammarPosition p, byte b)
    {
        if (p.Need == 0)
        {
            if (b < 0x80)
                return Advance(p.State, b) is { } s ? new GrammarPosition(s) : null;
            int length = b switch
            {
                >= 0xC2 and <= 0xDF => 2,
                >= 0xE0 and <= 0xEF => 3,
                >= 0xF0 and <= 0xF4 => 4,
                _ => 0,
            };
            if (length == 0)
                return null;
            var begun = new GrammarPosition(p.State, b & (0x7F >> length), length - 1, length);
            return Viable(begun) ? begun : null;
        }

        if ((b & 0xC0) != 0x80)
            return null;
        int partial = (p.Partial << 6) | (b & 0x3F);
        if (p.Need > 1)
        {
            var more = p with { Partial = partial, Need = p.Need - 1 };
            return Viable(more) ? more : null;
        }

        int min = p.Length switch { 2 => 0x80, 3 => 0x800, _ => 0x10000 };
        if (partial < min || partial > 0x10FFFF || partial is >= 0xD800 and <= 0xDFFF)
            return null;
        return Advance(p.State, partial) is { } next ? new GrammarPosition(next) : null;
    }

    /// <summary>The position after a whole byte string, or null when it is refused.</summary>
    public GrammarPosition? Step(GrammarPosition p, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            if (Step(p, b) is not { } next)
                return null;
            p = next;
        }

        return p;
    }

    /// <summary>An unfinished character lives on while some stack's top set holds a code point it could still become.</summary>
    private bool Viable(GrammarPosition p)
    {
        int lo = p.Partial << (6 * p.Need);
        int hi = lo | ((1 << (6 * p.Need)) - 1);
        lo = Math.Max(lo, p.Length switch { 2 => 0x80, 3 => 0x800, _ => 0x10000 });
        hi = Math.Min(hi, 0x10FFFF);
        if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF))
            return false; // overlong, past U+10FFFF, or a UTF-16 surrogate: no continuation makes a character
        foreach (var s in p.State.Stacks)
        {
            if (s is not null && Grammar.Elements[s.Pos].Set!.Intersects(lo, hi))
                return true;
        }

        return false;
    }

    /// <summary>The state after a code point, from the state's tables when it has been seen before.</summary>
    private GrammarState? Advance(GrammarState state, int codePoint)
    {
        if (codePoint < 0x80 && state.Ascii?[codePoint] is { } known)
            return ReferenceEquals(known, Dead) ? null : known;
        var stacks = state.Stacks;
        if (stacks.Length > 64)
            return Compute(state, codePoint); // too many stacks to key by: no table
        ulong matched = 0;
        for (int i = 0; i < stacks.Length; i++)
        {
            if (stacks[i] is { } s && Grammar.Elements[s.Pos].Set!.Matches(codePoint))
                matched |= 1UL << i;
        }

        GrammarState? next;
        if (matched == 0)
        {
            next = null;
        }
        else
        {
            state.ByMatch ??= [];
            if (!state.ByMatch.TryGetValue(matched, out var cached))
                state.ByMatch[matched] = cached = Compute(state, codePoint) ?? Dead;
            next = ReferenceEquals(cached, Dead) ? null : cached;
        }

        if (codePoint < 0x80)
            (state.Ascii ??= new GrammarState?[0x80])[codePoint] = next ?? Dead;
        return next;
    }

    private GrammarState? Compute(GrammarState state, int codePoint)
    {
        Begin();
        var elements = Grammar.Elements;
        foreach (var s in state.Stacks)
        {
            if (s is not null && elements[s.Pos].Set!.Matches(codePoint))
                Expand(s.Pos + 1, s.Parent);
        }

        return _out.Count == 0 ? null : Intern(new GrammarState([.. _out]));
    }

    private GrammarState Intern(GrammarState state)
    {
        if (_interned.TryGetValue(state, out var existing))
            return existing;
        if (_interned.Count >= MaxInterned)
            _interned.Clear();
        _interned[state] = state;
        return state;
    }

    private void Begin()
    {
        _seen.Clear();
        _out.Clear();
        _work = 0;
    }

    /// <summary>Adds every stack that continues at element <paramref name="pos"/> over <paramref name="parent"/>, expanded until its top is a character set.</summary>
    private void Expand(int pos, GrammarStack? parent)
    {
        var elements = Grammar.Elements;
        TotalWork++;
        if (++_work > MaxWork)
            throw new GrammarException($"the grammar is too ambiguous: over {MaxWork} expansion steps for one character");
        while (elements[pos].Kind == ElementKind.End)
        {
            if (parent is null)
            {
                Emit(null);
                return;
            }

            pos = parent.Pos;
            parent = parent.Parent;
        }

        var e = elements[pos];
        if (e.Kind == ElementKind.Chars)
        {
            if ((parent?.Depth ?? 0) < MaxDepth)
                Emit(new GrammarStack(pos, parent));
            return;
        }

        var continuation = elements[pos + 1].Kind == ElementKind.End ? parent : new GrammarStack(pos + 1, parent);
        if (continuation is not null && continuation.Depth > MaxDepth)
            return;
        foreach (int start in Grammar.Alternatives[e.Rule])
            Expand(start, continuation);
    }

    private void Emit(GrammarStack? s)
    {
        if (!_seen.Add(s))
            return;
        if (_out.Count >= MaxStacks)
            throw new GrammarException($"the grammar is too ambiguous: over {MaxStacks} parse stacks alive at once");
        _out.Add(s);
    }

    private sealed class NullableStackComparer : IEqualityComparer<GrammarStack?>
    {
        public static readonly NullableStackComparer Instance = new();

        public bool Equals(GrammarStack? x, GrammarStack? y) => x is null ? y is null : x.Equals(y);

        public int GetHashCode(GrammarStack? s) => s?.Hash ?? 17;
    }
}
