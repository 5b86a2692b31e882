using System.Text;

namespace Tern.Tokenizers;

/// <summary>
/// Streaming detokenization: feed token ids one at a time and get back only text that is final, that is,
/// whole UTF-8 characters (bytes of a character split over several tokens, or spread over byte-fallback
/// tokens, are held until the character is complete) and, for vocabularies that clean up spaces, no space
/// whose removal still depends on what comes next. Everything returned by <see cref="Append"/> and then
/// <see cref="Flush"/> concatenates to exactly what <see cref="Tokenizer.Decode"/> gives for all the ids.
/// Not thread-safe: one per sequence.
/// </summary>
public sealed class IncrementalDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _removeSpecial;
    private readonly bool _renderSpecial;
    private readonly bool _atSequenceStart;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly SpaceCleanup.Stream? _cleanup;
    private readonly List<byte> _bytes = new(64);
    private char[] _chars = new char[64];
    private bool _first;
    private bool _removeSpace;
    private bool _holdingEos;

    internal IncrementalDetokenizer(Tokenizer tokenizer, bool removeSpecial, bool renderSpecial, bool atSequenceStart)
    {
        _tokenizer = tokenizer;
        _removeSpecial = removeSpecial;
        _renderSpecial = renderSpecial;
        _atSequenceStart = atSequenceStart;
        _cleanup = tokenizer.CleanSpaces ? new SpaceCleanup.Stream() : null;
        Reset();
    }

    /// <summary>Feeds one token; returns the text that became final (often empty, sometimes several characters).</summary>
    public string Append(int id)
    {
        _bytes.Clear();
        if (_first)
        {
            _first = false;
            if (_removeSpecial && _tokenizer.AddBos && id == _tokenizer.Bos)
            {
                _removeSpace = false; // as llama_detokenize: the BOS is dropped and the next space stays
                return "";
            }
        }
        if (_holdingEos)
        {
            _holdingEos = false;
            Emit(_tokenizer.Eos);
        }
        // a trailing EOS is dropped by Decode(removeSpecial): wait to see whether anything follows it
        if (_removeSpecial && _tokenizer.AddEos && id == _tokenizer.Eos)
            _holdingEos = true;
        else
            Emit(id);
        return DecodeBytes(flush: false);
    }

    /// <summary>Ends the sequence: returns whatever was held back (an incomplete character becomes U+FFFD).</summary>
    public string Flush()
    {
        _bytes.Clear();
        _holdingEos = false;
        _cleanup?.Flush(_bytes);
        string tail = DecodeBytes(flush: true);
        Reset();
        return tail;
    }

    /// <summary>Forgets all state, ready for a new sequence.</summary>
    public void Reset()
    {
        _utf8.Reset();
        _cleanup?.Reset();
        _first = _atSequenceStart;
        _removeSpace = _atSequenceStart && _tokenizer.AddSpacePrefix;
        _holdingEos = false;
    }

    private void Emit(int id)
    {
        var piece = _tokenizer.Piece(id, _renderSpecial);
        if (_removeSpace && piece.Length > 0 && piece[0] == ' ')
            piece = piece[1..];
        _removeSpace = false;
        foreach (byte b in piece)
        {
            if (_cleanup is null)
                _bytes.Add(b);
            else
                _cleanup.Push(b, _bytes);
        }
    }

    private string DecodeBytes(bool flush)
    {
        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_bytes);
        int needed = _utf8.GetCharCount(bytes, flush);
        if (_chars.Length < needed)
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        int count = _utf8.GetChars(bytes, _chars, flush);
        return count == 0 ? "" : new string(_chars, 0, count);
    }
}
