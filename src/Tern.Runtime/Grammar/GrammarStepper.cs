namespace Tern.Runtime.Grammar;

/// <summary>
/// Advances <see cref="GrammarState"/>s byte by byte (llama.cpp's llama_grammar_accept: every stack whose top character
/// set takes the code point moves on, rule references expand into their alternatives). Bounded so a hostile grammar
/// cannot blow up: stacks deeper than <see cref="MaxDepth"/> are dropped (deeper nesting is not allowed), and more
/// than <see cref="MaxStacks"/> live stacks or <see cref="MaxWork"/> expansion steps for one code point throw.
/// Holds scratch space: one per thread.
/// </summary>
internal sealed class GrammarStepper(Grammar grammar)
{
    public const int MaxDepth = 1024;
    public const int MaxStacks = 4096;
    public const int MaxWork = 200_000;

    private readonly HashSet<GrammarStack?> _seen = new(NullableStackComparer.Instance);
    private readonly List<GrammarStack?> _out = [];
    private int _work;

    public Grammar Grammar { get; } = grammar;

    /// <summary>The state before any text: the root's alternatives expanded.</summary>
    public GrammarState Initial()
    {
        Begin();
        foreach (int start in Grammar.Alternatives[Grammar.Root])
            Expand(start, null);
        return new GrammarState(Finish(), 0, 0, 0);
    }

    /// <summary>The state after one more byte, or null when no stack can take it (or the bytes are not UTF-8).</summary>
    public GrammarState? Step(GrammarState state, byte b)
    {
        if (state.Need == 0)
        {
            if (b < 0x80)
                return Advance(state, b);
            int length = b switch
            {
                >= 0xC2 and <= 0xDF => 2,
                >= 0xE0 and <= 0xEF => 3,
                >= 0xF0 and <= 0xF4 => 4,
                _ => 0,
            };
            if (length == 0)
                return null;
            int bits = b & (0x7F >> length);
            return Viable(state, bits, length - 1, length);
        }

        if ((b & 0xC0) != 0x80)
            return null;
        int partial = (state.Partial << 6) | (b & 0x3F);
        if (state.Need > 1)
            return Viable(state, partial, state.Need - 1, state.Length);
        int min = state.Length switch { 2 => 0x80, 3 => 0x800, _ => 0x10000 };
        if (partial < min || partial > 0x10FFFF || partial is >= 0xD800 and <= 0xDFFF)
            return null;
        return Advance(state, partial);
    }

    /// <summary>The state after a whole byte string, or null when it is rejected.</summary>
    public GrammarState? Step(GrammarState state, ReadOnlySpan<byte> bytes)
    {
        GrammarState? s = state;
        foreach (byte b in bytes)
        {
            s = Step(s, b);
            if (s is null)
                return null;
        }

        return s;
    }

    /// <summary>An unfinished character lives on while some stack's top set holds a code point it could still become.</summary>
    private GrammarState? Viable(GrammarState state, int partial, int need, int length)
    {
        int lo = partial << (6 * need);
        int hi = lo | ((1 << (6 * need)) - 1);
        lo = Math.Max(lo, length switch { 2 => 0x80, 3 => 0x800, _ => 0x10000 });
        hi = Math.Min(hi, 0x10FFFF);
        if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF))
            return null; // overlong, past U+10FFFF, or a UTF-16 surrogate: no continuation makes a character
        foreach (var s in state.Stacks)
        {
            if (s is not null && Grammar.Elements[s.Pos].Set!.Intersects(lo, hi))
                return new GrammarState(state.Stacks, partial, need, length);
        }

        return null;
    }

    private GrammarState? Advance(GrammarState state, int codePoint)
    {
        Begin();
        var elements = Grammar.Elements;
        foreach (var s in state.Stacks)
        {
            if (s is not null && elements[s.Pos].Set!.Matches(codePoint))
                Expand(s.Pos + 1, s.Parent);
        }

        return _out.Count == 0 ? null : new GrammarState(Finish(), 0, 0, 0);
    }

    private void Begin()
    {
        _seen.Clear();
        _out.Clear();
        _work = 0;
    }

    private GrammarStack?[] Finish() => [.. _out];

    /// <summary>Adds every stack that continues at element <paramref name="pos"/> over <paramref name="parent"/>, expanded until its top is a character set.</summary>
    private void Expand(int pos, GrammarStack? parent)
    {
        var elements = Grammar.Elements;
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
