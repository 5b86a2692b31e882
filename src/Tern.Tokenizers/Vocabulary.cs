namespace Tern.Tokenizers;

/// <summary>The token strings, scores and attributes, with a text-to-id map that accepts spans.</summary>
internal sealed class Vocabulary
{
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _idsBySpan;

    public Vocabulary(string[] texts, float[] scores, TokenAttributes[] attributes, Dictionary<string, int> ids)
    {
        Texts = texts;
        Scores = scores;
        Attributes = attributes;
        _ids = ids;
        _idsBySpan = ids.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (string t in texts)
            MaxTokenLength = Math.Max(MaxTokenLength, t.Length);
    }

    public string[] Texts { get; }

    public float[] Scores { get; }

    public TokenAttributes[] Attributes { get; }

    public int Count => Texts.Length;

    /// <summary>Longest token in UTF-16 units.</summary>
    public int MaxTokenLength { get; }

    public bool TryGetId(ReadOnlySpan<char> text, out int id) => _idsBySpan.TryGetValue(text, out id);

    public int IdOf(ReadOnlySpan<char> text) => _idsBySpan.TryGetValue(text, out int id) ? id : -1;

    public bool Has(int id, TokenAttributes attribute) => (Attributes[id] & attribute) != 0;
}
