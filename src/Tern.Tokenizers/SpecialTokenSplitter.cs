namespace Tern.Tokenizers;

/// <summary>A piece of the input: either a special token already identified, or a range of plain text.</summary>
internal readonly record struct Fragment(int Token, int Start, int Length)
{
    public bool IsToken => Token >= 0;

    public static Fragment Text(int start, int length) => new(-1, start, length);
}

/// <summary>
/// Splits special tokens out of the text before tokenization, as llama.cpp's <c>tokenizer_st_partition</c>:
/// tokens are tried longest first; user-defined tokens are always split out, control and unknown tokens only
/// when parsing special tokens; guarded tokens not where a mark (<see cref="LiteralText"/>) says the text came from
/// a string that is plain text. LSTRIP/RSTRIP tokens eat the whitespace next to them.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    private readonly Vocabulary _vocab;
    private readonly int[] _specialIds; // longest text first

    public SpecialTokenSplitter(Vocabulary vocab)
    {
        _vocab = vocab;
        var ids = new List<int>();
        for (int id = 0; id < vocab.Count; id++)
        {
            if (vocab.Has(id, TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown))
                ids.Add(id);
        }
        // llama.cpp sorts by length only (std::sort, unstable); ties broken by id here to stay deterministic
        _specialIds = ids.OrderByDescending(id => vocab.Texts[id].Length).ThenBy(id => id).ToArray();
    }

    public IReadOnlyList<int> SpecialIds => _specialIds;

    /// <param name="marks">Positions of literal marks in <paramref name="text"/> (ascending): a token that is
    /// <paramref name="guarded"/> (by id) and covers one is left as text.</param>
    public List<Fragment> Split(string text, bool parseSpecial, int[]? marks = null, bool[]? guarded = null)
    {
        var fragments = new List<Fragment>();
        if (text.Length == 0)
            return fragments;
        fragments.Add(Fragment.Text(0, text.Length));

        foreach (int id in _specialIds)
        {
            var attributes = _vocab.Attributes[id];
            if (!parseSpecial && (attributes & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0)
                continue;
            string special = _vocab.Texts[id];
            var guard = marks is { Length: > 0 } && guarded is not null && guarded[id] ? marks : null;
            List<Fragment>? next = null;
            for (int f = 0; f < fragments.Count; f++)
            {
                var fragment = fragments[f];
                int hit = fragment.IsToken ? -1 : Find(text, special, fragment.Start, fragment.Start + fragment.Length, guard);
                if (hit < 0)
                {
                    next?.Add(fragment);
                    continue;
                }
                next ??= fragments.GetRange(0, f);
                int start = fragment.Start, end = fragment.Start + fragment.Length;
                while (hit >= 0)
                {
                    int leftEnd = hit;
                    if ((attributes & TokenAttributes.LeftStrip) != 0)
                    {
                        while (leftEnd > start && IsCSpace(text[leftEnd - 1]))
                            leftEnd--;
                    }
                    if (leftEnd > start)
                        next.Add(Fragment.Text(start, leftEnd - start));
                    next.Add(new Fragment(id, hit, special.Length));

                    start = hit + special.Length;
                    if ((attributes & TokenAttributes.RightStrip) != 0)
                    {
                        while (start < end && IsCSpace(text[start]))
                            start++;
                    }
                    hit = Find(text, special, start, end, guard);
                }
                if (start < end)
                    next.Add(Fragment.Text(start, end - start));
            }
            if (next is not null)
                fragments = next;
        }
        return fragments;
    }

    // The first place in [from, end) where special occurs and no mark of guard lies in it; -1 if none.
    private static int Find(string text, string special, int from, int end, int[]? guard)
    {
        while (from < end)
        {
            int hit = text.IndexOf(special, from, end - from, StringComparison.Ordinal);
            if (hit < 0 || guard is null || !LiteralText.Covers(guard, hit, special.Length))
                return hit;
            from = hit + 1;
        }
        return -1;
    }

    // C isspace in the "C" locale, which is what llama.cpp strips with
    private static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
