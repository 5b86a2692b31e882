using System.Globalization;
using System.Text;

namespace Tern.Chat;

/// <summary>
/// Splits template source into tokens the way Jinja2's lexer does with Hugging Face's settings: <c>trim_blocks</c>
/// (one newline after a block or comment tag is dropped), <c>lstrip_blocks</c> (spaces and tabs before a block or
/// comment tag on its own line are dropped), <c>-</c> and <c>+</c> whitespace control on either side, newlines
/// normalized to <c>\n</c> and the template's single trailing newline dropped.
/// </summary>
internal sealed class Lexer
{
    private static readonly string[] TwoCharOperators = ["**", "//", "==", "!=", ">=", "<="];
    private const string OneCharOperators = "+-/*%~[](){}><=.:|,;";

    private readonly string _src;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private int _line = 1;
    private bool _lineStarting = true;

    private Lexer(string source) => _src = source;

    public static List<Token> Tokenize(string source)
    {
        if (source.Contains('\r'))
            source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (source.EndsWith('\n'))
            source = source[..^1]; // keep_trailing_newline is off
        var lexer = new Lexer(source);
        try
        {
            lexer.Run();
        }
        catch (TemplateException ex)
        {
            lexer._tokens.Add(new Token(TokenKind.Error, ex.Reason, ex.Line));
        }
        return lexer._tokens;
    }

    private void Run()
    {
        while (_pos < _src.Length)
        {
            int start = FindTagStart(_pos);
            if (start < 0)
            {
                Emit(TokenKind.Data, _src[_pos..]);
                _pos = _src.Length;
                break;
            }

            char kind = _src[start + 1];
            int afterStart = start + 2;
            char sign = afterStart < _src.Length && _src[afterStart] is '-' or '+' ? _src[afterStart] : '\0';
            int rawEnd = kind == '%' ? MatchRawBegin(afterStart + (sign != '\0' ? 1 : 0)) : -1;
            EmitLeadingText(_src[_pos..start], sign, lstripAllowed: kind != '{');

            _pos = afterStart + (sign != '\0' ? 1 : 0);
            if (rawEnd >= 0)
            {
                _pos = rawEnd;
                _lineStarting = _src[rawEnd - 1] == '\n';
                LexRawBody();
            }
            else if (kind == '#')
            {
                LexComment();
            }
            else
            {
                LexTag(kind == '%');
            }
        }
        _tokens.Add(new Token(TokenKind.Eof, "", _line));
    }

    private int FindTagStart(int from)
    {
        for (int i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
        {
            if (_src[i + 1] is '{' or '%' or '#')
                return i;
        }
        return -1;
    }

    /// <summary>Text before a tag, after <c>-</c> (strip all trailing whitespace) or lstrip_blocks (strip the tag's own line's indentation).</summary>
    private void EmitLeadingText(string text, char sign, bool lstripAllowed)
    {
        int newlines = CountNewlines(text, 0, text.Length);
        if (sign == '-')
        {
            text = text.TrimEnd(PyStr.WhitespaceChars);
        }
        else if (sign != '+' && lstripAllowed)
        {
            int lineStart = text.LastIndexOf('\n') + 1;
            if ((lineStart > 0 || _lineStarting) && text.AsSpan(lineStart).IndexOfAnyExcept(PyStr.WhitespaceChars) < 0)
                text = text[..lineStart];
        }
        if (text.Length > 0)
            _tokens.Add(new Token(TokenKind.Data, text, _line));
        _line += newlines;
    }

    /// <summary>Matches <c>\s*raw\s*(-%}\s*|%})</c> at <paramref name="p"/>; returns the end position or -1.</summary>
    private int MatchRawBegin(int p)
    {
        p = SkipWhitespace(p);
        if (string.CompareOrdinal(_src, p, "raw", 0, 3) != 0)
            return -1;
        p = SkipWhitespace(p + 3);
        if (StartsWith(p, "-%}"))
            return SkipWhitespace(p + 3);
        return StartsWith(p, "%}") ? p + 2 : -1;
    }

    private void LexRawBody()
    {
        if (_pos >= _src.Length)
            return; // Jinja2's lexer stops quietly when the source ends right after the opener
        for (int i = _src.IndexOf("{%", _pos, StringComparison.Ordinal); i >= 0; i = _src.IndexOf("{%", i + 1, StringComparison.Ordinal))
        {
            int p = i + 2;
            char sign = p < _src.Length && _src[p] is '-' or '+' ? _src[p] : '\0';
            if (sign != '\0')
                p++;
            p = SkipWhitespace(p);
            if (string.CompareOrdinal(_src, p, "endraw", 0, 6) != 0)
                continue;
            p = SkipWhitespace(p + 6);
            int end;
            if (StartsWith(p, "+%}"))
                end = p + 3;
            else if (StartsWith(p, "-%}"))
                end = SkipWhitespace(p + 3);
            else if (StartsWith(p, "%}"))
                end = p + 2 < _src.Length && _src[p + 2] == '\n' ? p + 3 : p + 2;
            else
                continue;
            EmitLeadingText(_src[_pos..i], sign, lstripAllowed: true);
            _line += CountNewlines(_src, i, end);
            _pos = end;
            _lineStarting = _src[end - 1] == '\n';
            return;
        }
        throw Error("Missing end of raw directive");
    }

    private void LexComment()
    {
        if (_pos >= _src.Length)
            return; // as for raw: an opener at the very end is not an error in Jinja2
        int close = _src.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (close < 0)
            throw Error("Missing end of comment tag");
        char sign = close - 1 >= _pos ? _src[close - 1] : '\0';
        int end = close + 2;
        if (sign == '-')
            end = SkipWhitespace(end);
        else if (sign != '+' && end < _src.Length && _src[end] == '\n')
            end++;
        _line += CountNewlines(_src, _pos, end);
        _pos = end;
        _lineStarting = _src[end - 1] == '\n';
    }

    private void LexTag(bool block)
    {
        _tokens.Add(new Token(block ? TokenKind.BlockBegin : TokenKind.VariableBegin, block ? "{%" : "{{", _line));
        var balance = new Stack<char>();
        while (_pos < _src.Length)
        {
            if (balance.Count == 0 && TryTagEnd(block))
                return;
            char c = _src[_pos];
            if (PyStr.IsWhitespace(c))
            {
                int end = SkipWhitespace(_pos);
                _line += CountNewlines(_src, _pos, end);
                _pos = end;
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber();
            }
            else if (char.IsLetter(c) || c == '_')
            {
                int end = _pos + 1;
                while (end < _src.Length && (char.IsLetterOrDigit(_src[end]) || _src[end] == '_'))
                    end++;
                _tokens.Add(new Token(TokenKind.Name, _src[_pos..end], _line));
                _pos = end;
            }
            else if (c is '"' or '\'')
            {
                LexString(c);
            }
            else
            {
                LexOperator(balance);
            }
        }
        // End of input inside a tag: the parser reports the missing end with context.
    }

    private bool TryTagEnd(bool block)
    {
        int end;
        if (block && StartsWith(_pos, "+%}"))
            end = _pos + 3;
        else if (StartsWith(_pos, block ? "-%}" : "-}}"))
            end = SkipWhitespace(_pos + 3);
        else if (StartsWith(_pos, block ? "%}" : "}}"))
            end = block && _pos + 2 < _src.Length && _src[_pos + 2] == '\n' ? _pos + 3 : _pos + 2;
        else
            return false;
        _tokens.Add(new Token(block ? TokenKind.BlockEnd : TokenKind.VariableEnd, _src[_pos..Math.Min(end, _pos + 3)], _line));
        _line += CountNewlines(_src, _pos, end);
        _pos = end;
        _lineStarting = _src[end - 1] == '\n';
        return true;
    }

    private void LexNumber()
    {
        int start = _pos;
        if (_src[_pos] == '0' && _pos + 1 < _src.Length && char.ToLowerInvariant(_src[_pos + 1]) is 'x' or 'o' or 'b')
        {
            int radix = char.ToLowerInvariant(_src[_pos + 1]) switch { 'x' => 16, 'o' => 8, _ => 2 };
            int p = _pos + 2;
            while (p < _src.Length && (_src[p] == '_' || IsDigitOf(_src[p], radix)))
                p++;
            string body = _src[(_pos + 2)..p].Replace("_", "", StringComparison.Ordinal);
            if (body.Length > 0)
            {
                long v = 0;
                foreach (char ch in body)
                    v = checked(v * radix + Convert.ToInt32(ch.ToString(), 16));
                _tokens.Add(new Token(TokenKind.Integer, _src[start..p], _line, IntValue.Of(v)));
                _pos = p;
                return;
            }
        }
        int q = ScanDigits(_pos);
        bool isFloat = false;
        bool afterDot = start > 0 && _src[start - 1] == '.'; // float_re has (?<!\.)
        if (!afterDot && q + 1 < _src.Length && _src[q] == '.' && char.IsAsciiDigit(_src[q + 1]))
        {
            q = ScanDigits(q + 1);
            isFloat = true;
        }
        if (!afterDot && q < _src.Length && _src[q] is 'e' or 'E')
        {
            int p = q + 1;
            if (p < _src.Length && _src[p] is '+' or '-')
                p++;
            if (p < _src.Length && char.IsAsciiDigit(_src[p]))
            {
                q = ScanDigits(p);
                isFloat = true;
            }
        }
        string text = _src[start..q];
        string clean = text.Replace("_", "", StringComparison.Ordinal);
        Value literal;
        if (isFloat)
            literal = new FloatValue(double.Parse(clean, NumberStyles.Float, CultureInfo.InvariantCulture));
        else if (long.TryParse(clean, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            literal = IntValue.Of(v);
        else
            throw Error($"integer literal too large: {text}");
        _tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, _line, literal));
        _pos = q;
    }

    private int ScanDigits(int p)
    {
        while (p < _src.Length && (char.IsAsciiDigit(_src[p]) || (_src[p] == '_' && p + 1 < _src.Length && char.IsAsciiDigit(_src[p + 1]))))
            p++;
        return p;
    }

    private static bool IsDigitOf(char c, int radix) => radix switch
    {
        16 => char.IsAsciiHexDigit(c),
        8 => c is >= '0' and <= '7',
        _ => c is '0' or '1',
    };

    private void LexString(char quote)
    {
        int p = _pos + 1;
        while (p < _src.Length && _src[p] != quote)
            p += _src[p] == '\\' ? 2 : 1;
        if (p >= _src.Length)
            throw UnexpectedChar();
        string raw = _src[(_pos + 1)..p];
        _tokens.Add(new Token(TokenKind.String, _src[_pos..(p + 1)], _line, StringValue.Of(Unescape(raw))));
        _line += CountNewlines(_src, _pos, p);
        _pos = p + 1;
    }

    private void LexOperator(Stack<char> balance)
    {
        string? op = null;
        foreach (string two in TwoCharOperators)
        {
            if (StartsWith(_pos, two))
            {
                op = two;
                break;
            }
        }
        if (op is null && OneCharOperators.Contains(_src[_pos]))
            op = _src[_pos].ToString();
        if (op is null)
            throw UnexpectedChar();
        switch (op)
        {
            case "{":
                balance.Push('}');
                break;
            case "(":
                balance.Push(')');
                break;
            case "[":
                balance.Push(']');
                break;
            case "}" or ")" or "]":
                if (balance.Count == 0)
                    throw Error($"unexpected '{op}'");
                char expected = balance.Pop();
                if (expected != op[0])
                    throw Error($"unexpected '{op}', expected '{expected}'");
                break;
        }
        _tokens.Add(new Token(TokenKind.Operator, op, _line));
        _pos += op.Length;
    }

    /// <summary>Python's unicode-escape decoding of a string literal's body.</summary>
    private string Unescape(string raw)
    {
        if (!raw.Contains('\\'))
            return raw;
        var sb = new StringBuilder(raw.Length);
        for (int i = 0; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c != '\\' || i + 1 >= raw.Length)
            {
                sb.Append(c);
                continue;
            }
            char e = raw[++i];
            switch (e)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case >= '0' and <= '7':
                    int octal = 0, digits = 0;
                    while (digits < 3 && i < raw.Length && raw[i] is >= '0' and <= '7')
                    {
                        octal = octal * 8 + (raw[i++] - '0');
                        digits++;
                    }
                    i--;
                    sb.Append((char)octal);
                    break;
                case 'x' or 'u' or 'U':
                    int width = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    string hex = i + width < raw.Length ? raw.Substring(i + 1, width) : "";
                    if (hex.Length < width || !hex.All(char.IsAsciiHexDigit))
                        throw Error($"truncated \\{e}{new string('X', width)} escape");
                    int code = int.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
                    if (code > 0x10FFFF)
                        throw Error("illegal Unicode character");
                    if (code is >= 0xD800 and <= 0xDFFF)
                        sb.Append((char)code);
                    else
                        sb.Append(char.ConvertFromUtf32(code));
                    i += width;
                    break;
                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }
        return sb.ToString();
    }

    private void Emit(TokenKind kind, string text)
    {
        _tokens.Add(new Token(kind, text, _line));
        _line += CountNewlines(text, 0, text.Length);
    }

    private bool StartsWith(int p, string s) => p + s.Length <= _src.Length && string.CompareOrdinal(_src, p, s, 0, s.Length) == 0;

    private int SkipWhitespace(int p)
    {
        while (p < _src.Length && PyStr.IsWhitespace(_src[p]))
            p++;
        return p;
    }

    private static int CountNewlines(string s, int from, int to) => s.AsSpan(from, to - from).Count('\n');

    /// <summary>Jinja2's "unexpected char 'x' at N", N counted in code points of the normalized source.</summary>
    private TemplateException UnexpectedChar()
    {
        int width = char.IsHighSurrogate(_src[_pos]) && _pos + 1 < _src.Length ? 2 : 1;
        return Error($"unexpected char {Formatting.ReprString(_src.Substring(_pos, width))} at {PyStr.CodePointIndex(_src, _pos)}");
    }

    private TemplateException Error(string reason) => new(reason, _line, TemplateErrorKind.Syntax);
}
