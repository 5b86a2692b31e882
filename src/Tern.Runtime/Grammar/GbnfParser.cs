using System.Globalization;
using System.Text;

namespace Tern.Runtime.Grammar;

/// <summary>
/// Parses llama.cpp's GBNF: <c>name ::= alternatives</c> one rule per line (newlines are free inside parentheses
/// and after <c>|</c>), literals <c>"..."</c>, classes <c>[a-z]</c> / <c>[^...]</c>, <c>.</c>, groups, rule names,
/// and the postfix operators <c>* + ? {m} {m,} {m,n}</c>; <c>#</c> starts a comment. Groups and repetitions become
/// generated rules named after the rule they appear in, as llama.cpp names them.
/// </summary>
internal sealed class GbnfParser
{
    private const int MaxRepetition = 10_000;
    private const int MaxElements = 1_000_000;

    private readonly string _text;
    private int _pos;
    private readonly List<string> _names = [];
    private readonly List<bool> _generated = [];
    private readonly Dictionary<string, int> _ids = [];
    private readonly List<List<List<Element>>?> _rules = [];
    private readonly Dictionary<int, int> _firstUse = []; // rule id -> where it was first referenced
    private int _elementCount;

    private GbnfParser(string text) => _text = text;

    public static Grammar Parse(string text, string root)
    {
        ArgumentNullException.ThrowIfNull(text);
        var p = new GbnfParser(text);
        p.ParseRules();
        return p.Build(root);
    }

    private void ParseRules()
    {
        SkipSpace(newlines: true);
        while (_pos < _text.Length)
        {
            int at = _pos;
            string name = ParseName();
            SkipSpace(newlines: false);
            if (!_text.AsSpan(_pos).StartsWith("::="))
                throw Error("expected '::=' after the rule name");
            _pos += 3;
            SkipSpace(newlines: true);
            int id = RuleId(name);
            if (_rules[id] is not null)
                throw Error($"rule '{name}' is defined twice", at);
            _rules[id] = []; // defined (a self-reference inside its body sees it)
            _rules[id] = ParseAlternatives(name, nested: false);
            if (_pos < _text.Length && _text[_pos] is not ('\n' or '\r'))
                throw Error($"unexpected '{_text[_pos]}'");
            SkipSpace(newlines: true);
        }
    }

    private Grammar Build(string root)
    {
        if (!_ids.TryGetValue(root, out int rootId) || _rules[rootId] is null)
            throw new GrammarException($"the grammar has no '{root}' rule");
        foreach (var (id, at) in _firstUse)
        {
            if (_rules[id] is null)
                throw Error($"rule '{_names[id]}' is used but never defined", at);
        }

        var elements = new List<Element>();
        var alternatives = new int[_rules.Count][];
        for (int r = 0; r < _rules.Count; r++)
        {
            var alts = _rules[r]!;
            alternatives[r] = new int[alts.Count];
            for (int a = 0; a < alts.Count; a++)
            {
                alternatives[r][a] = elements.Count;
                elements.AddRange(alts[a]);
                elements.Add(new Element(ElementKind.End, 0, null));
            }
        }

        return new Grammar(_text, [.. elements], alternatives, [.. _names], [.. _generated], rootId);
    }

    private List<List<Element>> ParseAlternatives(string ruleName, bool nested)
    {
        var alts = new List<List<Element>> { ParseSequence(ruleName, nested) };
        while (_pos < _text.Length && _text[_pos] == '|')
        {
            _pos++;
            SkipSpace(newlines: true);
            alts.Add(ParseSequence(ruleName, nested));
        }

        return alts;
    }

    private List<Element> ParseSequence(string ruleName, bool nested)
    {
        var seq = new List<Element>();
        int lastStart = -1;
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == '"')
            {
                lastStart = seq.Count;
                _pos++;
                while (true)
                {
                    if (_pos >= _text.Length || _text[_pos] is '\n' or '\r')
                        throw Error("unterminated literal: expected '\"'");
                    if (_text[_pos] == '"')
                        break;
                    Add(seq, new Element(ElementKind.Chars, 0, CharSet.Single(ParseChar())));
                }

                _pos++;
            }
            else if (c == '[')
            {
                lastStart = seq.Count;
                Add(seq, new Element(ElementKind.Chars, 0, ParseClass()));
            }
            else if (c == '.')
            {
                lastStart = seq.Count;
                _pos++;
                Add(seq, new Element(ElementKind.Chars, 0, new CharSet([], negated: true)));
            }
            else if (c == '(')
            {
                _pos++;
                SkipSpace(newlines: true);
                var inner = ParseAlternatives(ruleName, nested: true);
                if (_pos >= _text.Length || _text[_pos] != ')')
                    throw Error("expected ')'");
                _pos++;
                lastStart = seq.Count;
                Add(seq, Ref(NewRule(ruleName, inner)));
            }
            else if (IsNameChar(c))
            {
                int at = _pos;
                int id = RuleId(ParseName());
                _firstUse.TryAdd(id, at);
                lastStart = seq.Count;
                Add(seq, Ref(id));
            }
            else if (c is '*' or '+' or '?' or '{')
            {
                if (lastStart < 0)
                    throw Error($"'{c}' has nothing before it to repeat");
                var (min, max) = ParseRepetition();
                var item = seq.GetRange(lastStart, seq.Count - lastStart);
                seq.RemoveRange(lastStart, seq.Count - lastStart);
                Repeat(seq, item, min, max, ruleName);
            }
            else if (c == '<')
            {
                throw Error("token references (<[id]> or <name>) are not supported");
            }
            else
            {
                break;
            }

            SkipSpace(newlines: nested);
        }

        return seq;
    }

    /// <summary>Appends min copies of the item, then either item* or (max - min) nested optional copies.</summary>
    private void Repeat(List<Element> seq, List<Element> item, int min, int? max, string ruleName)
    {
        for (int i = 0; i < min; i++)
        {
            foreach (var e in item)
                Add(seq, e);
        }

        if (max is null)
        {
            int star = NewRule(ruleName, []);
            _rules[star] = [[.. item, Ref(star)], []];
            CountElements(item.Count + 1);
            Add(seq, Ref(star));
            return;
        }

        int? tail = null;
        for (int k = min; k < max; k++)
        {
            var first = new List<Element>(item);
            if (tail is { } t)
                first.Add(Ref(t));
            CountElements(first.Count);
            tail = NewRule(ruleName, [first, []]);
        }

        if (tail is { } last)
            Add(seq, Ref(last));
    }

    private (int Min, int? Max) ParseRepetition()
    {
        char c = _text[_pos++];
        switch (c)
        {
            case '*':
                return (0, null);
            case '+':
                return (1, null);
            case '?':
                return (0, 1);
        }

        SkipSpace(newlines: false);
        int min = ParseCount();
        int? max = min;
        SkipSpace(newlines: false);
        if (_pos < _text.Length && _text[_pos] == ',')
        {
            _pos++;
            SkipSpace(newlines: false);
            max = _pos < _text.Length && char.IsAsciiDigit(_text[_pos]) ? ParseCount() : null;
            SkipSpace(newlines: false);
        }

        if (_pos >= _text.Length || _text[_pos] != '}')
            throw Error("expected '}' to close the repetition");
        _pos++;
        if (max < min)
            throw Error($"repetition {{{min},{max}}} has its maximum below its minimum");
        return (min, max);
    }

    private int ParseCount()
    {
        int start = _pos;
        while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
            _pos++;
        if (_pos == start)
            throw Error("expected a number in the repetition");
        if (!int.TryParse(_text.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n > MaxRepetition)
            throw Error($"repetition counts are limited to {MaxRepetition}", start);
        return n;
    }

    private CharSet ParseClass()
    {
        _pos++; // '['
        bool negated = _pos < _text.Length && _text[_pos] == '^';
        if (negated)
            _pos++;
        var ranges = new List<(int, int)>();
        while (true)
        {
            if (_pos >= _text.Length || _text[_pos] is '\n' or '\r')
                throw Error("unterminated character class: expected ']'");
            if (_text[_pos] == ']')
                break;
            int at = _pos;
            int lo = ParseChar();
            int hi = lo;
            if (_pos + 1 < _text.Length && _text[_pos] == '-' && _text[_pos + 1] != ']')
            {
                _pos++;
                hi = ParseChar();
                if (hi < lo)
                    throw Error("character range is out of order", at);
            }

            ranges.Add((lo, hi));
        }

        _pos++;
        return new CharSet(ranges, negated);
    }

    /// <summary>One character of a literal or class, with llama.cpp's escapes (\x.. \u.... \U........ \t \r \n \\ \" \[ \] and \- \^ \/).</summary>
    private int ParseChar()
    {
        int at = _pos;
        if (_text[_pos] != '\\')
        {
            var status = Rune.DecodeFromUtf16(_text.AsSpan(_pos), out var rune, out int used);
            if (status != System.Buffers.OperationStatus.Done)
                throw Error("invalid character (a lone UTF-16 surrogate)");
            _pos += used;
            return rune.Value;
        }

        if (_pos + 1 >= _text.Length)
            throw Error("unfinished escape");
        char e = _text[_pos + 1];
        _pos += 2;
        switch (e)
        {
            case 'x':
                return Hex(2, at);
            case 'u':
                return Hex(4, at);
            case 'U':
                return Hex(8, at);
            case 't':
                return '\t';
            case 'r':
                return '\r';
            case 'n':
                return '\n';
            case '\\' or '"' or '[' or ']' or '-' or '^' or '/':
                return e;
            default:
                throw Error($"unknown escape '\\{e}'", at);
        }
    }

    private int Hex(int digits, int at)
    {
        if (_pos + digits > _text.Length
            || !int.TryParse(_text.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value)
            || value > 0x10FFFF || value is >= 0xD800 and <= 0xDFFF)
            throw Error($"escape needs {digits} hex digits naming a Unicode scalar value", at);
        _pos += digits;
        return value;
    }

    private string ParseName()
    {
        int start = _pos;
        while (_pos < _text.Length && IsNameChar(_text[_pos]))
            _pos++;
        if (_pos == start)
            throw Error(_pos < _text.Length ? $"expected a rule name, found '{_text[_pos]}'" : "expected a rule name");
        return _text[start.._pos];
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';

    private void SkipSpace(bool newlines)
    {
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c is ' ' or '\t' || (newlines && c is '\n' or '\r'))
            {
                _pos++;
            }
            else if (c == '#')
            {
                while (_pos < _text.Length && _text[_pos] is not ('\n' or '\r'))
                    _pos++;
            }
            else
            {
                break;
            }
        }
    }

    private int RuleId(string name)
    {
        if (_ids.TryGetValue(name, out int id))
            return id;
        id = _rules.Count;
        _ids[name] = id;
        _names.Add(name);
        _generated.Add(false);
        _rules.Add(null);
        return id;
    }

    private int NewRule(string parent, List<List<Element>> alternatives)
    {
        string name;
        int n = _rules.Count;
        do
            name = $"{parent}_{n++}";
        while (_ids.ContainsKey(name));
        int id = RuleId(name);
        _generated[id] = true;
        _rules[id] = alternatives;
        return id;
    }

    private static Element Ref(int rule) => new(ElementKind.Rule, rule, null);

    private void Add(List<Element> seq, Element e)
    {
        CountElements(1);
        seq.Add(e);
    }

    private void CountElements(int n)
    {
        _elementCount += n;
        if (_elementCount > MaxElements)
            throw new GrammarException($"the grammar is too large: over {MaxElements} elements once its repetitions are expanded");
    }

    private GrammarException Error(string message, int? at = null)
    {
        int pos = Math.Min(at ?? _pos, _text.Length);
        int line = 1, column = 1;
        for (int i = 0; i < pos; i++)
        {
            if (_text[i] == '\n')
            {
                line++;
                column = 1;
            }
            else
            {
                column++;
            }
        }

        return new GrammarException($"grammar error at line {line}, column {column}: {message}");
    }
}
