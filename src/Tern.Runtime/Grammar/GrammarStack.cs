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
/// Where a grammar's match stands: the distinct stacks still alive (null stands for the empty stack: the root is
/// complete) and the bytes of a UTF-8 character begun but not finished. Immutable.
/// </summary>
internal sealed class GrammarState : IEquatable<GrammarState>
{
    public GrammarState(GrammarStack?[] stacks, int partial, int need, int length)
    {
        Stacks = stacks;
        Partial = partial;
        Need = need;
        Length = length;
        int h = HashCode.Combine(partial, need);
        foreach (var s in stacks)
            h += s?.Hash ?? 17; // order-independent
        Hash = h;
    }

    public GrammarStack?[] Stacks { get; }

    /// <summary>Bits of the unfinished character so far, how many continuation bytes it still needs, and its full length.</summary>
    public int Partial { get; }
    public int Need { get; }
    public int Length { get; }
    public int Hash { get; }

    /// <summary>The text so far is a whole sentence of the grammar.</summary>
    public bool IsComplete => Need == 0 && Array.IndexOf(Stacks, null) >= 0;

    /// <summary>Some character can still follow.</summary>
    public bool CanContinue => Stacks.Any(s => s is not null);

    public bool Equals(GrammarState? other)
    {
        if (other is null || other.Hash != Hash || other.Partial != Partial || other.Need != Need || other.Stacks.Length != Stacks.Length)
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
