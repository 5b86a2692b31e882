using System.Globalization;
using System.Text;
using Tern.Gguf;

namespace Tern.Tokenizers;

/// <summary>
/// A tokenizer built from GGUF metadata that tokenizes and detokenizes exactly as llama.cpp's
/// <c>llama_vocab</c>: SentencePiece ("llama"), byte-level BPE ("gpt2", pre-tokenizer from
/// <c>tokenizer.ggml.pre</c>) and WordPiece ("bert"). Immutable and safe to share between threads.
/// </summary>
public sealed class Tokenizer
{
    private const char SpaceMark = '\u2581'; // '▁', SentencePiece's escaped space

    private readonly Vocabulary _vocab;
    private readonly SpecialTokenSplitter _splitter;
    private readonly SentencePieceEncoder? _spm;
    private readonly BytePairEncoder? _bpe;
    private readonly WordPieceEncoder? _wpm;
    private readonly byte[]?[] _pieces; // token_to_piece with special tokens rendered, built on first use
    private readonly HashSet<int> _endOfGeneration;

    private Tokenizer(TokenizerSettings s)
    {
        _vocab = s.Vocabulary;
        Model = s.Model;
        PreTokenizerName = s.PreTokenizerName;
        Bos = s.Bos;
        Eos = s.Eos;
        Eot = s.Eot;
        Eom = s.Eom;
        Unknown = s.Unknown;
        Separator = s.Separator;
        Padding = s.Padding;
        Mask = s.Mask;
        AddBos = s.AddBos;
        AddEos = s.AddEos;
        AddSeparator = s.AddSeparator;
        AddSpacePrefix = s.AddSpacePrefix;
        CleanSpaces = s.CleanSpaces;
        _endOfGeneration = s.EndOfGeneration;
        _splitter = new SpecialTokenSplitter(_vocab);
        switch (Model)
        {
            case TokenizerModel.SentencePiece:
                _spm = new SentencePieceEncoder(_vocab, s.ByteTokens, Unknown);
                break;
            case TokenizerModel.BytePairEncoding:
                _bpe = new BytePairEncoder(_vocab, s.MergeRanks!, s.PreTokenizer!, s.IgnoreMerges);
                break;
            default:
                _wpm = new WordPieceEncoder(_vocab, Unknown, s.Lowercase, s.StripAccents);
                break;
        }
        _pieces = new byte[_vocab.Count][];
    }

    public TokenizerModel Model { get; }

    /// <summary>The <c>tokenizer.ggml.pre</c> in effect for BPE ("default" when absent); null otherwise.</summary>
    public string? PreTokenizerName { get; }

    public int VocabSize => _vocab.Count;

    /// <summary>Beginning-of-sequence token, or -1.</summary>
    public int Bos { get; }

    /// <summary>End-of-sequence token, or -1.</summary>
    public int Eos { get; }

    /// <summary>End-of-turn token (<c>tokenizer.ggml.eot_token_id</c>, else found by text such as &lt;|im_end|&gt;), or -1.</summary>
    public int Eot { get; }

    /// <summary>End-of-message token (<c>&lt;|eom_id|&gt;</c>), or -1.</summary>
    public int Eom { get; }

    public int Unknown { get; }

    public int Separator { get; }

    public int Padding { get; }

    public int Mask { get; }

    /// <summary>Whether <see cref="Encode"/> with addSpecial prepends <see cref="Bos"/>.</summary>
    public bool AddBos { get; }

    /// <summary>Whether <see cref="Encode"/> with addSpecial appends <see cref="Eos"/>.</summary>
    public bool AddEos { get; }

    /// <summary>WordPiece: whether addSpecial appends <see cref="Separator"/>.</summary>
    public bool AddSeparator { get; }

    /// <summary>SentencePiece: a space is put before the text (and removed again when decoding).</summary>
    public bool AddSpacePrefix { get; }

    /// <summary>Decoding removes spaces before punctuation and contractions (llama.cpp's clean_spaces).</summary>
    public bool CleanSpaces { get; }

    /// <summary>All tokens that end generation: EOS, EOT, EOM and end-of-turn tokens found by their text.</summary>
    public IReadOnlyCollection<int> EndOfGenerationTokens => _endOfGeneration;

    public bool IsEndOfGeneration(int id) => _endOfGeneration.Contains(id);

    public string GetTokenText(int id) => _vocab.Texts[CheckId(id)];

    public float GetTokenScore(int id) => _vocab.Scores[CheckId(id)];

    public TokenAttributes GetTokenAttributes(int id) => _vocab.Attributes[CheckId(id)];

    /// <summary>The id of the token whose vocabulary text is exactly <paramref name="text"/>, or -1.</summary>
    public int GetTokenId(string text) => _vocab.IdOf(text);

    /// <summary>Builds the tokenizer described by a GGUF file's <c>tokenizer.*</c> metadata.</summary>
    public static Tokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var map = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        foreach (var (key, value) in file.Metadata)
        {
            if (key.StartsWith("tokenizer.", StringComparison.Ordinal) || key.StartsWith("general.", StringComparison.Ordinal))
                map[key] = value;
        }
        return FromMetadata(map);
    }

    /// <summary>Builds a tokenizer from metadata key/value pairs (the <c>tokenizer.*</c> keys of a GGUF file).</summary>
    public static Tokenizer FromMetadata(IEnumerable<KeyValuePair<string, GgufValue>> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var map = metadata as IReadOnlyDictionary<string, GgufValue>
            ?? metadata.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return new Tokenizer(TokenizerSettings.Load(new TokenizerMetadata(map)));
    }

    /// <summary>
    /// Tokenizes <paramref name="text"/>. <paramref name="addSpecial"/> adds BOS/EOS (and SEP for WordPiece) as
    /// the vocabulary asks; <paramref name="parseSpecial"/> turns the text of control tokens (such as
    /// <c>&lt;|im_start|&gt;</c>) into those tokens. User-defined tokens are always recognized, as in llama.cpp.
    /// </summary>
    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        var output = new List<int>();
        Encode(text, output, addSpecial, parseSpecial);
        return output.ToArray();
    }

    /// <summary>Appends the tokens of <paramref name="text"/> to <paramref name="output"/>.</summary>
    public void Encode(string text, List<int> output, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(output);
        Encode(text, _splitter.Split(text, parseSpecial), output, addSpecial);
    }

    /// <summary>
    /// A <see cref="Tern.Tokenizers.LiteralText"/> to mark untrusted strings embedded in a prompt and tokenize the
    /// prompt, with the text of control and unknown tokens, and of these <paramref name="userDefinedTokens"/>, in
    /// marked strings read as plain text.
    /// </summary>
    public LiteralText CreateLiteralText(IEnumerable<int>? userDefinedTokens = null) => new(this, _vocab, userDefinedTokens ?? []);

    internal int[] Encode(string text, int[] marks, bool[] guarded, bool addSpecial)
    {
        var output = new List<int>();
        Encode(text, _splitter.Split(text, parseSpecial: true, marks, guarded), output, addSpecial);
        return output.ToArray();
    }

    private void Encode(string text, List<Fragment> fragments, List<int> output, bool addSpecial)
    {
        switch (Model)
        {
            case TokenizerModel.SentencePiece:
                {
                    if (addSpecial && AddBos)
                        output.Add(Bos);
                    bool previousIsSpecial = true; // the first text gets the space prefix too
                    foreach (var fragment in fragments)
                    {
                        if (fragment.IsToken)
                        {
                            output.Add(fragment.Token);
                            previousIsSpecial = true;
                            continue;
                        }
                        var sb = new StringBuilder(fragment.Length + 1);
                        if (AddSpacePrefix && previousIsSpecial)
                            sb.Append(' ');
                        sb.Append(text, fragment.Start, fragment.Length);
                        sb.Replace(' ', SpaceMark);
                        _spm!.Encode(sb.ToString(), output);
                        previousIsSpecial = false;
                    }
                    if (addSpecial && AddEos)
                        output.Add(Eos);
                    break;
                }
            case TokenizerModel.BytePairEncoding:
                if (addSpecial && AddBos)
                    output.Add(Bos);
                foreach (var fragment in fragments)
                {
                    if (fragment.IsToken)
                        output.Add(fragment.Token);
                    else
                        _bpe!.Encode(text.Substring(fragment.Start, fragment.Length), output);
                }
                if (addSpecial && AddEos)
                    output.Add(Eos);
                break;
            default:
                if (addSpecial)
                    output.Add(Bos);
                foreach (var fragment in fragments)
                {
                    if (fragment.IsToken)
                        output.Add(fragment.Token);
                    else
                        _wpm!.Encode(text.Substring(fragment.Start, fragment.Length), output);
                }
                if (addSpecial && AddSeparator)
                    output.Add(Separator);
                break;
        }
    }

    /// <summary>
    /// The bytes a token stands for (llama.cpp's <c>token_to_piece</c>): byte tokens give their byte, BPE tokens
    /// their un-mapped bytes, SentencePiece tokens their text with '▁' as a space. Control and unknown tokens
    /// give their text only when <paramref name="renderSpecial"/> is true; user-defined tokens always do.
    /// </summary>
    public byte[] TokenToBytes(int id, bool renderSpecial = true) => Piece(id, renderSpecial).ToArray();

    internal ReadOnlySpan<byte> Piece(int id, bool renderSpecial)
    {
        CheckId(id);
        if (!renderSpecial && (_vocab.Attributes[id] & (TokenAttributes.Unknown | TokenAttributes.Control)) != 0)
            return [];
        return _pieces[id] ??= BuildPiece(id); // a race only builds the same bytes twice
    }

    /// <summary>
    /// Turns tokens back into text as llama.cpp's <c>llama_detokenize</c>: the space a SentencePiece vocabulary
    /// put before the text is removed from the first token; <paramref name="removeSpecial"/> drops a leading BOS
    /// and trailing EOS that the vocabulary adds; <paramref name="renderSpecial"/> writes control tokens' text;
    /// BPE vocabularies with clean_spaces remove the space before punctuation and contractions.
    /// Invalid UTF-8 (for example a multi-byte character cut short) becomes U+FFFD.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool removeSpecial = false, bool renderSpecial = false)
    {
        var bytes = new List<byte>(ids.Length * 4);
        bool removeSpace = AddSpacePrefix;
        if (removeSpecial && AddBos && ids.Length > 0 && ids[0] == Bos)
        {
            removeSpace = false;
            ids = ids[1..];
        }
        if (removeSpecial && AddEos && ids.Length > 0 && ids[^1] == Eos)
            ids = ids[..^1];
        foreach (int id in ids)
        {
            var piece = Piece(id, renderSpecial);
            if (removeSpace && piece.Length > 0 && piece[0] == ' ')
                piece = piece[1..];
            removeSpace = false;
            foreach (byte b in piece)
                bytes.Add(b);
        }
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        int length = CleanSpaces ? SpaceCleanup.Apply(span) : span.Length;
        return Encoding.UTF8.GetString(span[..length]);
    }

    /// <summary>A detokenizer for streaming: feed ids one by one, get only complete UTF-8 text back.</summary>
    /// <param name="atSequenceStart">
    /// True when the first id fed is the first of the sequence (its SentencePiece space prefix is removed, as
    /// <see cref="Decode"/> does); false to continue after text already shown, such as a prompt.
    /// </param>
    public IncrementalDetokenizer CreateDetokenizer(bool removeSpecial = false, bool renderSpecial = false, bool atSequenceStart = true) =>
        new(this, removeSpecial, renderSpecial, atSequenceStart);

    private int CheckId(int id) =>
        (uint)id < (uint)_vocab.Count ? id : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {_vocab.Count}");

    private byte[] BuildPiece(int id)
    {
        string text = _vocab.Texts[id];
        var attributes = _vocab.Attributes[id];
        if ((attributes & (TokenAttributes.Unknown | TokenAttributes.Control | TokenAttributes.UserDefined)) != 0)
            return Encoding.UTF8.GetBytes(text);
        if ((attributes & TokenAttributes.Normal) != 0)
        {
            return Model == TokenizerModel.BytePairEncoding
                ? DecodeByteLevel(text)
                : Encoding.UTF8.GetBytes(text.Replace(SpaceMark, ' '));
        }
        if ((attributes & TokenAttributes.Byte) != 0 && Model != TokenizerModel.WordPiece && TryParseByteToken(text, out byte b))
            return [b];
        return []; // unused and undefined tokens have no text
    }

    /// <summary>Maps GPT-2 alphabet characters back to bytes; characters outside it are flagged as llama.cpp does.</summary>
    private static byte[] DecodeByteLevel(string text)
    {
        var bytes = new List<byte>(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.IsBmp && ByteLevelAlphabet.TryDecode((char)rune.Value, out byte b))
            {
                bytes.Add(b);
                continue;
            }
            var utf8 = new byte[rune.Utf8SequenceLength];
            rune.EncodeToUtf8(utf8);
            var marker = new StringBuilder("[UNK_BYTE_0x");
            foreach (byte u in utf8)
                marker.Append(u.ToString("x2", CultureInfo.InvariantCulture));
            marker.Append(text).Append(']');
            bytes.AddRange(Encoding.UTF8.GetBytes(marker.ToString()));
        }
        return bytes.ToArray();
    }

    internal static bool TryParseByteToken(string text, out byte value)
    {
        value = 0;
        return text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
            && byte.TryParse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value);
    }
}
