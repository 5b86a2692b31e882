using System.Text;
using System.Text.Json;

namespace Tern.Chat.ToolCalls;

/// <summary>
/// Gemma 4's argument syntax, as its chat template writes it: <c>{key:value,...}</c> with bare keys (or quoted ones), strings
/// between <c>&lt;|"|&gt;</c> delimiters (taken verbatim, no escapes), <c>[a,b]</c> lists, nested objects, and bare numbers,
/// <c>true</c>/<c>false</c> and <c>null</c> (also Python's <c>True</c>/<c>False</c>/<c>None</c>); other bare text is a string.
/// </summary>
internal static class Gemma4Arguments
{
    public const string Quote = "<|\"|>";
    private const int MaxDepth = 64;

    /// <summary>The arguments as a JSON object in the model's key order, or null with the <paramref name="problem"/>.</summary>
    public static string? ToJson(string text, out string? problem)
    {
        var json = new StringBuilder();
        try
        {
            var reader = new Reader(text, json);
            reader.Object(depth: 0);
            reader.End();
        }
        catch (SyntaxException ex)
        {
            problem = ex.Message;
            return null;
        }
        string arguments = json.ToString();
        if (!CallJson.TryParse(arguments, out var document, out problem))
            return null; // text that is not valid UTF-16
        document.Dispose();
        return arguments;
    }

    private sealed class SyntaxException(string message) : Exception(message);

    private sealed class Reader(string text, StringBuilder json)
    {
        private int _at;

        public void End()
        {
            SkipSpace();
            if (_at < text.Length)
                throw Error($"unexpected text after the arguments: {Excerpt()}");
        }

        public void Object(int depth)
        {
            Check(depth);
            Expect('{');
            json.Append('{');
            var keys = new HashSet<string>(StringComparer.Ordinal);
            SkipSpace();
            if (!TryTake('}'))
            {
                do
                {
                    SkipSpace();
                    string key = Key();
                    if (!keys.Add(key))
                        throw Error($"the argument \"{key}\" is given twice");
                    if (keys.Count > 1)
                        json.Append(',');
                    json.Append(CallJson.Quote(key)).Append(':');
                    Expect(':');
                    Value(depth + 1);
                    SkipSpace();
                }
                while (TryTake(','));
                Expect('}');
            }
            json.Append('}');
        }

        private void Array(int depth)
        {
            Check(depth);
            Expect('[');
            json.Append('[');
            SkipSpace();
            if (!TryTake(']'))
            {
                bool first = true;
                do
                {
                    if (!first)
                        json.Append(',');
                    first = false;
                    Value(depth + 1);
                    SkipSpace();
                }
                while (TryTake(','));
                Expect(']');
            }
            json.Append(']');
        }

        private void Value(int depth)
        {
            SkipSpace();
            if (_at >= text.Length)
                throw Error("a value is missing at the end of the arguments");
            if (text.AsSpan(_at).StartsWith(Quote, StringComparison.Ordinal))
                json.Append(CallJson.Quote(QuotedString()));
            else if (text[_at] == '{')
                Object(depth);
            else if (text[_at] == '[')
                Array(depth);
            else
                Bare();
        }

        private string Key()
        {
            if (text.AsSpan(_at).StartsWith(Quote, StringComparison.Ordinal))
                return QuotedString();
            int colon = text.IndexOf(':', _at);
            int stop = text.AsSpan(_at).IndexOfAny("{}[],<");
            if (colon < 0 || (stop >= 0 && _at + stop < colon))
                throw Error($"expected key:value at {Excerpt()}");
            string key = text[_at..colon].Trim();
            if (key.Length == 0)
                throw Error($"an argument name is empty at {Excerpt()}");
            _at = colon;
            return key;
        }

        private string QuotedString()
        {
            int start = _at + Quote.Length;
            int end = text.IndexOf(Quote, start, StringComparison.Ordinal);
            if (end < 0)
                throw Error($"a string is not closed with {Quote}");
            _at = end + Quote.Length;
            return text[start..end];
        }

        private void Bare()
        {
            int length = text.AsSpan(_at).IndexOfAny(",}]");
            int end = length < 0 ? text.Length : _at + length;
            string token = text[_at..end].Trim();
            if (token.Length == 0)
                throw Error($"a value is missing at {Excerpt()}");
            _at = end;
            json.Append(ArgumentTypes.Literal(token) ?? (IsJsonNumber(token) ? token : CallJson.Quote(token)));
        }

        private static bool IsJsonNumber(string token)
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(token));
            try
            {
                return reader.Read() && reader.TokenType == JsonTokenType.Number && !reader.Read();
            }
            catch (JsonException)
            {
                return false;
            }
        }

        private void Expect(char c)
        {
            SkipSpace();
            if (!TryTake(c))
                throw Error(_at < text.Length ? $"expected '{c}' at {Excerpt()}" : $"expected '{c}' at the end of the arguments");
        }

        private bool TryTake(char c)
        {
            if (_at < text.Length && text[_at] == c)
            {
                _at++;
                return true;
            }
            return false;
        }

        private void SkipSpace()
        {
            while (_at < text.Length && char.IsWhiteSpace(text[_at]))
                _at++;
        }

        private static void Check(int depth)
        {
            if (depth >= MaxDepth)
                throw Error($"the arguments are nested deeper than {MaxDepth} levels");
        }

        private string Excerpt() => CallJson.Quote(text.Substring(_at, Math.Min(20, text.Length - _at)));

        private static SyntaxException Error(string message) => new(message);
    }
}
