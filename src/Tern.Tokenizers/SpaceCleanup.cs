namespace Tern.Tokenizers;

/// <summary>
/// llama.cpp's <c>clean_up_tokenization_spaces</c> for BPE vocabularies, three passes over the decoded bytes:
/// drop a space before <c>? ! . ,</c>; turn <c>" ' "</c> into <c>"'"</c>; drop the space before the
/// contractions <c>'s 'm 're 've</c>.
/// </summary>
internal static class SpaceCleanup
{
    /// <summary>Applies the three passes in place, exactly as llama.cpp's <c>detokenize</c>; returns the new length.</summary>
    public static int Apply(Span<byte> text)
    {
        int total = text.Length;

        int total1 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total1; i++)
        {
            byte x = text[i];
            if (text[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',')
                total--;
            text[total++] = x;
        }

        int total2 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total2; i++)
        {
            byte x = text[i];
            if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ')
            {
                total--;
                text[++i] = 0;
            }
            text[total++] = x;
        }

        int total3 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total3; i++)
        {
            byte x = text[i];
            if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3)
            {
                byte x1 = text[i + 1];
                if (x1 is (byte)'s' or (byte)'m')
                    total--;
                else if (x1 is not ((byte)'t' or (byte)'d') && i + 2 < total3)
                {
                    byte x2 = text[i + 2];
                    if (x1 is (byte)'r' or (byte)'v' && x2 == 'e')
                        total--;
                }
            }
            text[total++] = x;
        }
        return total;
    }

    /// <summary>
    /// The same three passes as a streaming filter: bytes go in one at a time and come out as soon as no later
    /// byte can change them (at most three bytes are held back, and only after a space).
    /// </summary>
    internal sealed class Stream
    {
        private readonly byte[] _quoteHeld = new byte[2];
        private readonly byte[] _contractionHeld = new byte[3];
        private List<byte> _output = [];
        private bool _punctuationHeld;
        private int _quoteCount;
        private int _contractionCount;

        public void Push(byte b, List<byte> output)
        {
            _output = output;
            Punctuation(b);
        }

        public void Flush(List<byte> output)
        {
            _output = output;
            if (_punctuationHeld)
            {
                _punctuationHeld = false;
                Quote((byte)' ');
            }
            for (int i = 0; i < _quoteCount; i++)
                Contraction(_quoteHeld[i]);
            _quoteCount = 0;
            for (int i = 0; i < _contractionCount; i++)
                output.Add(_contractionHeld[i]);
            _contractionCount = 0;
        }

        public void Reset()
        {
            _punctuationHeld = false;
            _quoteCount = 0;
            _contractionCount = 0;
        }

        // pass 1: a held space is dropped if ?!., follows
        private void Punctuation(byte b)
        {
            if (_punctuationHeld)
            {
                _punctuationHeld = false;
                if (b is not ((byte)'?' or (byte)'!' or (byte)'.' or (byte)','))
                    Quote((byte)' ');
            }
            if (b == ' ')
                _punctuationHeld = true;
            else
                Quote(b);
        }

        // pass 2: " ' " becomes "'"; the swallowed second space cannot start another match
        private void Quote(byte b)
        {
            switch (_quoteCount)
            {
                case 0:
                    if (b == ' ')
                        _quoteHeld[_quoteCount++] = b;
                    else
                        Contraction(b);
                    break;
                case 1:
                    if (b == '\'')
                    {
                        _quoteHeld[_quoteCount++] = b;
                    }
                    else if (b == ' ')
                    {
                        Contraction((byte)' ');
                    }
                    else
                    {
                        _quoteCount = 0;
                        Contraction((byte)' ');
                        Contraction(b);
                    }
                    break;
                default:
                    _quoteCount = 0;
                    if (b == ' ')
                    {
                        Contraction((byte)'\'');
                    }
                    else
                    {
                        Contraction((byte)' ');
                        Contraction((byte)'\'');
                        Quote(b);
                    }
                    break;
            }
        }

        // pass 3: the space before 's 'm 're 've is dropped
        private void Contraction(byte b)
        {
            switch (_contractionCount)
            {
                case 0:
                    if (b == ' ')
                        _contractionHeld[_contractionCount++] = b;
                    else
                        _output.Add(b);
                    break;
                case 1:
                    if (b == '\'')
                    {
                        _contractionHeld[_contractionCount++] = b;
                    }
                    else if (b == ' ')
                    {
                        _output.Add((byte)' ');
                    }
                    else
                    {
                        _contractionCount = 0;
                        _output.Add((byte)' ');
                        _output.Add(b);
                    }
                    break;
                case 2:
                    if (b is (byte)'r' or (byte)'v')
                    {
                        _contractionHeld[_contractionCount++] = b;
                        break;
                    }
                    _contractionCount = 0;
                    if (b is not ((byte)'s' or (byte)'m'))
                        _output.Add((byte)' ');
                    _output.Add((byte)'\'');
                    if (b is (byte)'s' or (byte)'m' or (byte)'t' or (byte)'d')
                        _output.Add(b);
                    else
                        Contraction(b);
                    break;
                default:
                    byte x1 = _contractionHeld[2];
                    _contractionCount = 0;
                    if (b != 'e')
                        _output.Add((byte)' ');
                    _output.Add((byte)'\'');
                    _output.Add(x1);
                    if (b == 'e')
                        _output.Add(b);
                    else
                        Contraction(b);
                    break;
            }
        }
    }
}
