namespace Tern.Chat.ToolCalls;

/// <summary>
/// Formats where a turn that starts with JSON may be a call (Llama 3.x, generic): leading JSON whose first key is one of a call
/// (<c>name</c>, <c>type</c>, <c>function</c>, <c>tool_calls</c>, <c>tool_call</c>) is held back until it is complete, then becomes
/// calls when it is shaped like calls and content otherwise; other leading JSON streams as content at once. Several calls may follow one another,
/// separated by whitespace, <c>;</c> or <c>,</c>. What comes after is handled by the derived format (<see cref="StepRest"/>).
/// </summary>
internal abstract class JsonFirstToolCallParser(ToolCallFormat format, Func<string>? newId) : ToolCallParser(format, newId)
{
    private Phase _phase = Phase.Start;
    private BlockScanner _scanner;
    private bool _definite;
    private string _rawPrefix = "";

    private enum Phase
    {
        Start,
        Json,
        AfterJson,
        Rest,
    }

    /// <summary>Markers that cut short a JSON value the model did not finish.</summary>
    private protected virtual ReadOnlySpan<string> JsonStops => [];

    /// <summary>Steps of the rest of the turn, after the leading JSON (or from the start when the turn does not start with JSON).</summary>
    private protected abstract bool StepRest(bool final);

    /// <summary>Reads JSON calls from here on; <paramref name="definite"/> when a marker said that calls follow, so JSON that is not a call is an error.</summary>
    private protected void BeginJson(bool definite, string rawPrefix)
    {
        _phase = Phase.Json;
        _definite = definite;
        _rawPrefix = rawPrefix;
        _scanner = default;
    }

    private protected sealed override bool Step(bool final) => _phase switch
    {
        Phase.Start => StepStart(),
        Phase.Json => StepJson(final),
        Phase.AfterJson => StepAfterJson(final),
        _ => StepRest(final),
    };

    private bool StepStart()
    {
        var text = Text;
        int at = Markup.SkipWhitespace(text);
        if (at < 0)
        {
            AddContent(Consume(text.Length)); // held as whitespace: dropped if a call follows
            return false;
        }
        AddContent(Consume(at));
        if (Markup.IsJsonStart(Text[0]))
            BeginJson(definite: false, rawPrefix: "");
        else
            _phase = Phase.Rest;
        return true;
    }

    private bool StepJson(bool final)
    {
        if (!_definite)
        {
            // JSON whose first key is not one of a call is content: release it now rather than when the value ends
            var start = CallJson.MatchCallStart(Text, final);
            if (start == MarkerMatch.Partial)
                return false;
            if (start == MarkerMatch.None)
            {
                _phase = Phase.Rest;
                return true;
            }
        }
        var result = _scanner.Scan(Text, endAtDepthZero: true, JsonStops, final, out int at, out _);
        if (result == ScanResult.NeedMore && !final)
            return false;
        bool complete = result == ScanResult.End;
        string json = Consume(result == ScanResult.NeedMore ? Text.Length : at);
        List<CallCandidate>? calls;
        if (_definite)
            calls = complete ? CallJson.ReadCalls(json) : [CallCandidate.Malformed("the JSON of the call is incomplete")];
        else
            calls = CallJson.ReadIfCalls(json, complete);
        if (calls is null)
        {
            AddContent(json);
            _phase = Phase.Rest;
            return true;
        }
        AddCalls(calls, _rawPrefix + json);
        _phase = complete ? Phase.AfterJson : Phase.Rest;
        return true;
    }

    private bool StepAfterJson(bool final)
    {
        var text = Text;
        int at = 0;
        while (at < text.Length && (char.IsWhiteSpace(text[at]) || text[at] is ';' or ','))
            at++;
        // separators after a call are dropped whatever follows, so they can go before the next character is known
        Consume(at);
        if (at == text.Length)
        {
            if (!final)
                return false;
            _phase = Phase.Rest;
            return true;
        }
        if (Markup.IsJsonStart(text[at]))
            BeginJson(_definite, _rawPrefix);
        else
            _phase = Phase.Rest;
        return true;
    }
}
