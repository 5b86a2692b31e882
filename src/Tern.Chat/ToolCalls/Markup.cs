namespace Tern.Chat.ToolCalls;

internal enum MarkerMatch
{
    None,

    /// <summary>The text ends with a proper prefix of the marker: more text may complete it.</summary>
    Partial,

    Full,
}

/// <summary>Finding markers in streamed text, holding back the tail that may be the start of one.</summary>
internal static class Markup
{
    public static MarkerMatch MatchAt(ReadOnlySpan<char> text, int index, string marker, bool final)
    {
        int n = Math.Min(marker.Length, text.Length - index);
        if (!text.Slice(index, n).SequenceEqual(marker.AsSpan(0, n)))
            return MarkerMatch.None;
        if (n == marker.Length)
            return MarkerMatch.Full;
        return final ? MarkerMatch.None : MarkerMatch.Partial;
    }

    /// <summary>
    /// The first index at or after <paramref name="from"/> where a marker starts in full (<paramref name="marker"/> is its index)
    /// or where the text ends with a prefix of one (<paramref name="marker"/> is -1); -1 when neither.
    /// </summary>
    public static int Find(ReadOnlySpan<char> text, int from, ReadOnlySpan<string> markers, bool final, out int marker)
    {
        for (int i = from; i < text.Length; i++)
        {
            int partial = -1;
            for (int m = 0; m < markers.Length; m++)
            {
                if (text[i] != markers[m][0])
                    continue;
                var match = MatchAt(text, i, markers[m], final);
                if (match == MarkerMatch.Full)
                {
                    marker = m;
                    return i;
                }
                if (match == MarkerMatch.Partial)
                    partial = i;
            }
            if (partial >= 0)
            {
                marker = -1;
                return partial;
            }
        }
        marker = -1;
        return -1;
    }

    /// <summary>Index of the first character that is not whitespace, or -1.</summary>
    public static int SkipWhitespace(ReadOnlySpan<char> text, int from = 0)
    {
        for (int i = from; i < text.Length; i++)
        {
            if (!char.IsWhiteSpace(text[i]))
                return i;
        }
        return -1;
    }

    public static bool IsJsonStart(char c) => c is '{' or '[';
}

internal enum ScanResult
{
    NeedMore,

    /// <summary>The JSON value that started at offset 0 is complete.</summary>
    End,

    /// <summary>A stop marker was found outside JSON strings.</summary>
    Stop,
}

/// <summary>
/// Scans streamed text for the end of a JSON value, or for a closing marker, without being fooled by brackets or markers
/// inside JSON strings. It resumes where the previous call stopped, so a long call costs linear time however it is cut.
/// Quotes open strings only inside brackets, so text around a block cannot flip it into a string.
/// </summary>
internal struct BlockScanner
{
    private int _offset, _depth;
    private bool _inString, _escape;

    /// <param name="text">The text starting where the scan started.</param>
    /// <param name="endAtDepthZero">Stop after the bracket that closes the value at offset 0.</param>
    /// <param name="stops">Markers that end the block when they appear outside strings.</param>
    /// <param name="index">For <see cref="ScanResult.End"/> the index after the value; for <see cref="ScanResult.Stop"/> the marker's index.</param>
    /// <param name="stop">The index of the stop marker found.</param>
    public ScanResult Scan(ReadOnlySpan<char> text, bool endAtDepthZero, ReadOnlySpan<string> stops, bool final, out int index, out int stop)
    {
        for (int i = _offset; i < text.Length; i++)
        {
            char c = text[i];
            if (_inString)
            {
                if (_escape)
                    _escape = false;
                else if (c == '\\')
                    _escape = true;
                else if (c == '"')
                    _inString = false;
                continue;
            }
            for (int m = 0; m < stops.Length; m++)
            {
                if (c != stops[m][0])
                    continue;
                var match = Markup.MatchAt(text, i, stops[m], final);
                if (match == MarkerMatch.Full)
                {
                    _offset = i;
                    index = i;
                    stop = m;
                    return ScanResult.Stop;
                }
                if (match == MarkerMatch.Partial)
                {
                    _offset = i; // look again when more text has come
                    index = stop = -1;
                    return ScanResult.NeedMore;
                }
            }
            if (c == '"' && _depth > 0)
            {
                _inString = true;
            }
            else if (c is '{' or '[')
            {
                _depth++;
            }
            else if (c is '}' or ']' && _depth > 0)
            {
                _depth--;
                if (_depth == 0 && endAtDepthZero)
                {
                    _offset = i + 1;
                    index = i + 1;
                    stop = -1;
                    return ScanResult.End;
                }
            }
        }
        _offset = text.Length;
        index = stop = -1;
        return ScanResult.NeedMore;
    }
}
