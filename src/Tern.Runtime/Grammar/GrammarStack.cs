namespace Tern.Runtime.Grammar;

/// <summary>
/// One parse stack as an immutable linked list (stacks share their tails): <see cref="Pos"/> is the element to match
/// next — a character set on the top node, the continuation after a rule reference below it. Equality is
/// structural, with the hash computed once.
/// </summary>
internal sealed class GrammarStack : IEquatable<GrammarStack>
{
    public GrammarStack(int pos, GrammarStack? parent)
    {
        Pos = pos;
        Parent = parent;
        Depth = (parent?.Depth ?? 0) + 1;
        Hash = HashCode.Combine(pos, parent?.Hash ?? 0);
    }

    public int Pos { get; }
    public GrammarStack? Parent { get; }
    public int Depth { get; }
    public int Hash { get; }

    public bool Equals(GrammarStack? other)
    {
        var a = this;
        var b = other;
        while (true)
        {
            if (ReferenceEquals(a, b))
                return true;
            if (a is null || b is null || a.Hash != b.Hash || a.Pos != b.Pos)
                return false;
            a = a.Parent;
            b = b.Parent;
        }
    }

    public override bool Equals(object? obj) => obj is GrammarStack s && Equals(s);

    public override int GetHashCode() => Hash;
}

/// <summary>
/// The distinct stacks still alive after some text (null stands for the empty stack: the root is complete). Interned
/// by a <see cref="GrammarStepper"/>, so equal states are one object that remembers its transitions: the state after
/// an ASCII character, and the state after any character by which of the stacks it matches (the next state depends
/// on nothing else), so walking the token trie mostly reads tables instead of expanding stacks again.
/// </summary>
internal sealed class GrammarState : IEquatable<GrammarState>
{
    public GrammarState(GrammarStack?[] stacks)
    {
        Stacks = stacks;
        int h = 0;
        foreach (var s in stacks)
            h += s?.Hash ?? 17; // order-independent
        Hash = h;
    }

    public GrammarStack?[] Stacks { get; }
    public int Hash { get; }

    internal GrammarState?[]? Ascii { get; set; }
    internal Dictionary<ulong, GrammarState>? ByMatch { get; set; }

    /// <summary>The text so far is a whole sentence of the grammar.</summary>
    public bool IsComplete => Array.IndexOf(Stacks, null) >= 0;

    /// <summary>Some character can still follow.</summary>
    public bool CanContinue => Array.Exists(Stacks, s => s is not null);

    public bool Equals(GrammarState? other)
    {
        if (ReferenceEquals(this, other))
            return true;
        if (other is null || other.Hash != Hash || other.Stacks.Length != Stacks.Length)
            return false;
        foreach (var s in Stacks)
        {
            if (Array.FindIndex(other.Stacks, o => o is null ? s is null : o.Equals(s)) < 0)
                return false;
        }

        return true;
    }

    public override bool Equals(object? obj) => obj is GrammarState s && Equals(s);

    public override int GetHashCode() => Hash;
}

/// <summary>A state and the bytes of a UTF-8 character begun but not finished (its bits so far, the bytes it still needs, its length).</summary>
internal readonly record struct GrammarPosition(GrammarState State, int Partial = 0, int Need = 0, int Length = 0)
{
    public bool IsComplete => Need == 0 && State.IsComplete;

    public bool CanContinue => Need > 0 || State.CanContinue;
}
