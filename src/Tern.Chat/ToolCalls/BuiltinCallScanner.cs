using System.Text;
using System.Text.Json;

namespace Tern.Chat.ToolCalls;

/// <summary>
/// Llama 3.1's built-in tool calls after <c>&lt;|python_tag|&gt;</c>: <c>name.call(arg="value", n=3)</c>, Python keyword
/// arguments whose values are strings (double or single quotes), numbers, booleans, None, or JSON lists and objects.
/// </summary>
internal struct BuiltinCallScanner(string name)
{
    private const int MaxNameLength = 64;

    private int _offset, _depth;
    private char _quote;
    private bool _escape;

    public readonly string Name => name;

    /// <summary>Matches <c>name.call(</c> at the start of <paramref name="text"/>.</summary>
    public static MarkerMatch MatchHead(ReadOnlySpan<char> text, bool final, out string name, out int length)
    {
        name = "";
        length = 0;
        int i = 0;
        while (i < text.Length && i <= MaxNameLength && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
            i++;
        if (i == 0 || i > MaxNameLength || char.IsAsciiDigit(text[0]))
            return MarkerMatch.None;
        int nameEnd = i;
        foreach (string part in (ReadOnlySpan<string>)[".", "call", "("])
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
                i++;
            var match = i < text.Length ? Markup.MatchAt(text, i, part, final) : (final ? MarkerMatch.None : MarkerMatch.Partial);
            if (match != MarkerMatch.Full)
                return match;
            i += part.Length;
        }
        name = text[..nameEnd].ToString();
        length = i;
        return MarkerMatch.Full;
    }

    /// <summary>
    /// The index of the <c>)</c> that closes the call, or of a stop marker outside strings that comes first; -1 when the text
    /// ends before either. Resumes where the previous call stopped.
    /// </summary>
    public int FindClose(ReadOnlySpan<char> text, ReadOnlySpan<string> stops, bool final)
    {
        for (int i = _offset; i < text.Length; i++)
        {
            char c = text[i];
            if (_quote != '\0')
            {
                if (_escape)
                    _escape = false;
                else if (c == '\\')
                    _escape = true;
                else if (c == _quote)
                    _quote = '\0';
                continue;
            }
            foreach (string stop in stops)
            {
                var match = c == stop[0] ? Markup.MatchAt(text, i, stop, final) : MarkerMatch.None;
                if (match == MarkerMatch.Full)
                    return i;
                if (match == MarkerMatch.Partial)
                {
                    _offset = i;
                    return -1;
                }
            }
            if (c is '"' or '\'')
                _quote = c;
            else if (c is '(' or '[' or '{')
                _depth++;
            else if (c is ')' && _depth == 0)
                return i;
            else if (c is ')' or ']' or '}' && _depth > 0)
                _depth--;
        }
        _offset = text.Length;
        return -1;
    }

    /// <summary>The keyword arguments between the parentheses as a JSON object, or null with the <paramref name="problem"/>.</summary>
    public static string? ReadArguments(string inner, out string? problem)
    {
        var json = new StringBuilder("{");
        int i = 0;
        problem = null;
        while (true)
        {
            i = SkipSpace(inner, i);
            if (i == inner.Length)
                break;
            int start = i;
            while (i < inner.Length && (char.IsAsciiLetterOrDigit(inner[i]) || inner[i] == '_'))
                i++;
            if (i == start)
            {
                problem = $"expected an argument name at \"{Excerpt(inner, start)}\"";
                return null;
            }
            string key = inner[start..i];
            i = SkipSpace(inner, i);
            if (i == inner.Length || inner[i] != '=')
            {
                problem = $"expected '=' after the argument name \"{key}\"";
                return null;
            }
            i = SkipSpace(inner, i + 1);
            string? value = ReadValue(inner, ref i);
            if (value is null)
            {
                problem = $"the value of \"{key}\" is not a string, number, boolean, None, list or dict";
                return null;
            }
            if (json.Length > 1)
                json.Append(',');
            json.Append(CallJson.Quote(key)).Append(':').Append(value);
            i = SkipSpace(inner, i);
            if (i == inner.Length)
                break;
            if (inner[i] != ',')
            {
                problem = $"expected ',' between arguments at \"{Excerpt(inner, i)}\"";
                return null;
            }
            i++;
        }
        return json.Append('}').ToString();
    }

    private static string? ReadValue(string text, ref int i)
    {
        if (i == text.Length)
            return null;
        char c = text[i];
        if (c is '"' or '\'')
            return ReadString(text, ref i);
        int start = i;
        if (c is '[' or '{')
        {
            var scanner = default(BlockScanner);
            if (scanner.Scan(text.AsSpan(start), endAtDepthZero: true, [], final: true, out int end, out _) != ScanResult.End)
                return null;
            i = start + end;
            return IsJson(text[start..i]) ? text[start..i] : null;
        }
        while (i < text.Length && text[i] != ',' && !char.IsWhiteSpace(text[i]))
            i++;
        string token = text[start..i];
        return token switch
        {
            "True" or "true" => "true",
            "False" or "false" => "false",
            "None" or "null" => "null",
            _ => token.Length > 0 && (char.IsAsciiDigit(token[0]) || token[0] is '-' or '.') && IsJson(token) ? token : null,
        };
    }

    private static string? ReadString(string text, ref int i)
    {
        char quote = text[i++];
        var value = new StringBuilder();
        while (i < text.Length)
        {
            char c = text[i++];
            if (c == quote)
                return CallJson.Quote(value.ToString());
            if (c != '\\' || i == text.Length)
            {
                value.Append(c);
                continue;
            }
            char escaped = text[i++];
            switch (escaped)
            {
                case 'n': value.Append('\n'); break;
                case 't': value.Append('\t'); break;
                case 'r': value.Append('\r'); break;
                case 'u' when i + 4 <= text.Length && ushort.TryParse(text.AsSpan(i, 4), System.Globalization.NumberStyles.HexNumber, null, out ushort code):
                    value.Append((char)code);
                    i += 4;
                    break;
                case '\\' or '"' or '\'': value.Append(escaped); break;
                default: value.Append('\\').Append(escaped); break;
            }
        }
        return null;
    }

    private static bool IsJson(string text)
    {
        if (!CallJson.TryParse(text, out var document, out _))
            return false;
        document.Dispose();
        return true;
    }

    private static int SkipSpace(string text, int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i]))
            i++;
        return i;
    }

    private static string Excerpt(string text, int at) => text.Length - at > 20 ? text.Substring(at, 20) + "..." : text[at..];
}
