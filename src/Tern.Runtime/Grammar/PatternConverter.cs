using System.Text;

namespace Tern.Runtime.Grammar;

/// <summary>
/// A JSON Schema <c>pattern</c> (an ECMAScript regex subset) as GBNF for the inside of a JSON string: alternation,
/// groups (also <c>(?:</c>), classes with ranges and negation, <c>.</c>, <c>\d \w \s</c> and their negations, escaped
/// literals, and the quantifiers <c>* + ? {m} {m,} {m,n}</c> (lazy ones match the same strings). Without <c>^</c> or
/// <c>$</c> the pattern may sit anywhere in the string (JSON Schema searches), so any text may come before or after.
/// Characters are written unescaped, so the string holds no escapes: classes lose <c>"</c>, <c>\</c> and control
/// characters (stricter), a literal <c>"</c> or <c>\</c> is written as its JSON escape. Backreferences, lookaround,
/// word boundaries and anchors inside the pattern are refused.
/// </summary>
internal sealed class PatternConverter(string pattern, string path)
{
    // characters that a JSON string cannot hold unescaped
    private static readonly (int, int)[] Unplain = [(0, 0x1F), ('"', '"'), ('\\', '\\'), (0x7F, 0x7F)];
    private const string AnyPlain = "[^\\x00-\\x1F\"\\\\\\x7F]";
    private int _pos;

    public string Convert()
    {
        bool start = pattern.StartsWith('^');
        if (start)
            _pos = 1;
        string body = Alternatives();
        bool end = false;
        if (_pos < pattern.Length && pattern[_pos] == '$' && _pos == pattern.Length - 1)
        {
            end = true;
            _pos++;
        }

        if (_pos < pattern.Length)
            throw Error(pattern[_pos] is '$' or '^' ? $"an anchor '{pattern[_pos]}' inside the pattern" : $"unexpected '{pattern[_pos]}'");
        return (start ? "" : AnyPlain + "* ") + "( " + body + " )" + (end ? "" : " " + AnyPlain + "*");
    }

    private string Alternatives()
    {
        var alts = new List<string> { Sequence() };
        while (_pos < pattern.Length && pattern[_pos] == '|')
        {
            _pos++;
            alts.Add(Sequence());
        }

        return string.Join(" | ", alts.Select(a => a.Length == 0 ? "\"\"" : a));
    }

    private string Sequence()
    {
        var items = new List<string>();
        while (_pos < pattern.Length && pattern[_pos] is not ('|' or ')'))
        {
            if (pattern[_pos] == '$' && _pos == pattern.Length - 1)
                break;
            string atom = Atom();
            items.Add(Quantified(atom));
        }

        return string.Join(" ", items);
    }

    private string Atom()
    {
        char c = pattern[_pos];
        switch (c)
        {
            case '(':
                _pos++;
                if (pattern.AsSpan(_pos).StartsWith("?:"))
                    _pos += 2;
                else if (_pos < pattern.Length && pattern[_pos] == '?')
                    throw Error("lookaround or named groups '(?'");
                string inner = Alternatives();
                if (_pos >= pattern.Length || pattern[_pos] != ')')
                    throw Error("an unclosed group");
                _pos++;
                return "( " + inner + " )";
            case '[':
                return Class();
            case '.':
                _pos++;
                return AnyPlain;
            case '\\':
                return Escape(inClass: false, out _)!;
            case '^' or '$':
                throw Error($"an anchor '{c}' inside the pattern");
            case '*' or '+' or '?' or '{':
                throw Error($"'{c}' with nothing to repeat");
            default:
                var status = Rune.DecodeFromUtf16(pattern.AsSpan(_pos), out var rune, out int used);
                if (status != System.Buffers.OperationStatus.Done)
                    throw Error("a lone UTF-16 surrogate");
                _pos += used;
                return Literal(rune.Value);
        }
    }

    private string Quantified(string atom)
    {
        if (_pos >= pattern.Length)
            return atom;
        bool braces = pattern[_pos] == '{';
        string? suffix = pattern[_pos] switch
        {
            '*' => "*",
            '+' => "+",
            '?' => "?",
            '{' => Braces(),
            _ => null,
        };
        if (suffix is null)
            return atom;
        if (!braces)
            _pos++;
        if (_pos < pattern.Length && pattern[_pos] == '?')
            _pos++; // lazy: the same strings
        else if (_pos < pattern.Length && pattern[_pos] == '+')
            throw Error("a possessive quantifier");
        return "( " + atom + " )" + suffix;
    }

    private string? Braces()
    {
        int close = pattern.IndexOf('}', _pos);
        if (close < 0)
            return null;
        string inside = pattern[(_pos + 1)..close];
        var parts = inside.Split(',');
        if (parts.Length > 2 || parts[0].Length == 0 || !parts.All(p => p.All(char.IsAsciiDigit)))
            return null; // a literal '{' (ECMAScript reads it so)
        if (parts.Any(p => p.Length > 5) || int.Parse(parts[0]) > 10_000 || (parts.Length == 2 && parts[1].Length > 0 && int.Parse(parts[1]) > 10_000))
            throw Error("a repetition count over 10000");
        if (parts.Length == 2 && parts[1].Length > 0 && int.Parse(parts[1]) < int.Parse(parts[0]))
            throw Error("a repetition {m,n} with n below m");
        _pos = close + 1;
        return "{" + inside + "}";
    }

    private string Class()
    {
        _pos++; // '['
        bool negated = _pos < pattern.Length && pattern[_pos] == '^';
        if (negated)
            _pos++;
        var ranges = new List<(int, int)>();
        var negatedShorthands = new List<string>();
        bool first = true;
        while (true)
        {
            if (_pos >= pattern.Length)
                throw Error("an unclosed character class");
            if (pattern[_pos] == ']' && !first)
                break;
            first = false;
            int lo;
            if (pattern[_pos] == '\\')
            {
                var shorthand = Escape(inClass: true, out int single);
                if (shorthand is not null)
                {
                    if (shorthand.StartsWith("[^", StringComparison.Ordinal))
                    {
                        if (negated)
                            throw Error("a negated shorthand (\\D, \\W, \\S) inside a negated class");
                        negatedShorthands.Add(shorthand);
                    }
                    else
                    {
                        ranges.AddRange(ShorthandRanges(shorthand));
                    }

                    continue;
                }

                lo = single;
            }
            else
            {
                Rune.DecodeFromUtf16(pattern.AsSpan(_pos), out var r, out int used);
                lo = r.Value;
                _pos += used;
            }

            int hi = lo;
            if (_pos + 1 < pattern.Length && pattern[_pos] == '-' && pattern[_pos + 1] != ']')
            {
                _pos++;
                if (pattern[_pos] == '\\')
                {
                    if (Escape(inClass: true, out hi) is not null)
                        throw Error("a range ending in a class shorthand");
                }
                else
                {
                    Rune.DecodeFromUtf16(pattern.AsSpan(_pos), out var r, out int used);
                    hi = r.Value;
                    _pos += used;
                }

                if (hi < lo)
                    throw Error("a character range out of order");
            }

            ranges.Add((lo, hi));
        }

        _pos++;
        if (negated)
            return GbnfText.Class([.. ranges, .. Unplain], negated: true);
        var alternatives = new List<string>();
        var plain = Subtract(ranges, Unplain);
        if (plain.Count > 0)
            alternatives.Add(GbnfText.Class(plain, negated: false));
        if (ranges.Any(r => r.Item1 <= '"' && '"' <= r.Item2))
            alternatives.Add(Literal('"'));
        if (ranges.Any(r => r.Item1 <= '\\' && '\\' <= r.Item2))
            alternatives.Add(Literal('\\'));
        alternatives.AddRange(negatedShorthands);
        if (alternatives.Count == 0)
            throw Error("a character class that only holds control characters (a JSON string would need escapes)");
        return alternatives.Count == 1 ? alternatives[0] : "( " + string.Join(" | ", alternatives) + " )";
    }

    /// <summary>An escape: a shorthand class as GBNF (returned), or a single character (in <paramref name="single"/>, null returned; outside a class its literal is returned).</summary>
    private string? Escape(bool inClass, out int single)
    {
        single = -1;
        if (_pos + 1 >= pattern.Length)
            throw Error("a trailing backslash");
        char e = pattern[_pos + 1];
        _pos += 2;
        string? shorthand = e switch
        {
            'd' => "[0-9]",
            'w' => "[0-9A-Za-z_]",
            's' => "[ ]", // the other white space characters need escapes in JSON
            'D' => GbnfText.Class([('0', '9'), .. Unplain], negated: true),
            'W' => GbnfText.Class([('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z'), .. Unplain], negated: true),
            'S' => GbnfText.Class([(' ', ' '), .. Unplain], negated: true),
            _ => null,
        };
        if (shorthand is not null)
            return shorthand;
        single = e switch
        {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'f' => '\f',
            'v' => '\v',
            '0' => 0,
            'x' => Hex(2),
            'u' => Hex(4),
            'b' when inClass => '\b',
            'b' or 'B' => throw Error("a word boundary '\\" + e + "'"),
            >= '1' and <= '9' => throw Error("a backreference"),
            'k' => throw Error("a named backreference"),
            'p' or 'P' => throw Error("a Unicode property class"),
            _ when char.IsAsciiLetterOrDigit(e) => throw Error($"the escape '\\{e}'"),
            _ => e,
        };
        return inClass ? null : Literal(single);
    }

    private int Hex(int digits)
    {
        if (_pos + digits > pattern.Length || !int.TryParse(pattern.AsSpan(_pos, digits), System.Globalization.NumberStyles.AllowHexSpecifier, null, out int v))
            throw Error($"an escape without {digits} hex digits");
        _pos += digits;
        return v;
    }

    /// <summary>One character as it is written inside the JSON string: plain, or its JSON escape; a control character as its escape.</summary>
    private string Literal(int c) => c switch
    {
        '"' => GbnfText.Literal("\\\""),
        '\\' => GbnfText.Literal("\\\\"),
        '\n' => GbnfText.Literal("\\n"),
        '\t' => GbnfText.Literal("\\t"),
        '\r' => GbnfText.Literal("\\r"),
        < 0x20 or 0x7F => GbnfText.Literal($"\\u{c:x4}"),
        _ => GbnfText.Literal(char.ConvertFromUtf32(c)),
    };

    private static IEnumerable<(int, int)> ShorthandRanges(string shorthand) => shorthand switch
    {
        "[0-9]" => [('0', '9')],
        "[0-9A-Za-z_]" => [('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')],
        _ => [(' ', ' ')],
    };

    private static List<(int, int)> Subtract(IEnumerable<(int Lo, int Hi)> ranges, (int, int)[] remove)
    {
        var result = new List<(int, int)>();
        foreach (var (lo0, hi) in ranges)
        {
            var pieces = new List<(int Lo, int Hi)> { (lo0, hi) };
            foreach (var (rlo, rhi) in remove)
            {
                pieces = pieces.SelectMany(p => p.Hi < rlo || p.Lo > rhi
                    ? [p]
                    : new[] { (p.Lo, rlo - 1), (rhi + 1, p.Hi) }.Where(x => x.Item1 <= x.Item2)).ToList();
            }

            result.AddRange(pieces);
        }

        return result;
    }

    private GrammarException Error(string what) =>
        JsonSchemaGrammar.Unsupported($"{what} in 'pattern' \"{pattern}\" (at character {_pos + 1})", path);
}
