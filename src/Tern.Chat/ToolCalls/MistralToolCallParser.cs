using System.Text;

namespace Tern.Chat.ToolCalls;

/// <summary>
/// Mistral's <c>[TOOL_CALLS]</c> marker followed by a JSON array of calls (Nemo: <c>[{"name", "arguments", "id"}]</c>) or by
/// <c>name[ARGS]{...}</c>, optionally <c>name[CALL_ID]id[ARGS]{...}</c> (newer models, one marker per call).
/// </summary>
internal sealed class MistralToolCallParser(Func<string>? newId) : ToolCallParser(ToolCallFormat.Mistral, newId)
{
    private const string Marker = "[TOOL_CALLS]";
    private const string ArgsMarker = "[ARGS]";
    private const string CallIdMarker = "[CALL_ID]";
    private const int MaxNameLength = 256;
    private static readonly string[] Markers = [Marker];

    private readonly StringBuilder _raw = new();
    private State _state;
    private BlockScanner _scanner;
    private string? _name, _id, _problem;

    private enum State
    {
        Content,
        AfterMarker,
        CallsJson,
        Name,
        CallId,
        BeforeArgs,
        ArgsJson,
    }

    private protected override string FormatHint =>
        "Write the calls as [TOOL_CALLS][{\"name\": \"<function-name>\", \"arguments\": {<arguments as a JSON object>}}]";

    // Mistral's template accepts only ids of 9 letters and digits
    private protected override string NewDefaultId() => RandomAlphanumeric(9);

    private protected override bool Step(bool final) => _state switch
    {
        State.Content => StepContent(final),
        State.AfterMarker => StepAfterMarker(final),
        State.CallsJson or State.ArgsJson => StepJson(final),
        State.Name => StepName(final),
        State.CallId => StepCallId(final),
        _ => StepBeforeArgs(final),
    };

    private bool StepContent(bool final)
    {
        if (!ContentUntilMarker(Markers, final))
            return false; // no marker yet, or maybe the start of one: wait
        _raw.Clear().Append(Consume(Marker.Length));
        _name = _id = _problem = null;
        _state = State.AfterMarker;
        return true;
    }

    private bool StepAfterMarker(bool final)
    {
        var text = Text;
        int at = Markup.SkipWhitespace(text);
        if (at < 0)
        {
            _raw.Append(Consume(text.Length));
            if (!final)
                return false;
            return Fail("nothing follows [TOOL_CALLS]");
        }
        _raw.Append(Consume(at));
        char c = Text[0];
        if (Markup.IsJsonStart(c))
            return BeginJson(State.CallsJson);
        if (IsNameChar(c))
        {
            _state = State.Name;
            return true;
        }
        return Fail("[TOOL_CALLS] must be followed by a JSON array of calls or by a function name and [ARGS]");
    }

    private bool StepName(bool final)
    {
        var text = Text;
        int end = 0;
        while (end < text.Length && end <= MaxNameLength && IsNameChar(text[end]))
            end++;
        if (end > MaxNameLength)
            return Fail("the function name is too long");
        if (end == text.Length && !final)
            return false;
        var args = end < text.Length ? Markup.MatchAt(text, end, ArgsMarker, final) : MarkerMatch.None;
        var callId = end < text.Length ? Markup.MatchAt(text, end, CallIdMarker, final) : MarkerMatch.None;
        if (args == MarkerMatch.Partial || callId == MarkerMatch.Partial)
            return false;
        _name = Consume(end);
        _raw.Append(_name);
        if (args == MarkerMatch.Full)
        {
            _raw.Append(Consume(ArgsMarker.Length));
            _state = State.BeforeArgs;
        }
        else if (callId == MarkerMatch.Full)
        {
            _raw.Append(Consume(CallIdMarker.Length));
            _state = State.CallId;
        }
        else
        {
            // the arguments may still follow: keep them in the error rather than letting them leak into the content
            _problem = $"the function name \"{_name}\" must be followed by [ARGS] and the arguments";
            _state = State.BeforeArgs;
        }
        return true;
    }

    private bool StepCallId(bool final)
    {
        var text = Text;
        int end = 0;
        while (end < text.Length && end <= MaxNameLength && char.IsAsciiLetterOrDigit(text[end]))
            end++;
        if (end > MaxNameLength)
            return Fail("the call id is too long");
        if (end == text.Length && !final)
            return false;
        var args = end < text.Length ? Markup.MatchAt(text, end, ArgsMarker, final) : MarkerMatch.None;
        if (args == MarkerMatch.Partial)
            return false;
        _id = Consume(end);
        _raw.Append(_id);
        if (args != MarkerMatch.Full)
            return Fail("the call id must be followed by [ARGS] and the arguments");
        _raw.Append(Consume(ArgsMarker.Length));
        _state = State.BeforeArgs;
        return true;
    }

    private bool StepBeforeArgs(bool final)
    {
        var text = Text;
        int at = Markup.SkipWhitespace(text);
        if (at < 0)
        {
            if (!final)
                return false; // whitespace here is not consumed: if no arguments follow, it is content
            return Fail(_problem ?? "[ARGS] must be followed by the arguments as a JSON object");
        }
        if (Text[at] == '{')
        {
            _raw.Append(Consume(at));
            return BeginJson(State.ArgsJson);
        }
        return Fail(_problem ?? "[ARGS] must be followed by the arguments as a JSON object");
    }

    private bool StepJson(bool final)
    {
        var result = _scanner.Scan(Text, endAtDepthZero: true, Markers, final, out int at, out _);
        if (result == ScanResult.NeedMore && !final)
            return false;
        string json = Consume(result == ScanResult.End || result == ScanResult.Stop ? at : Text.Length);
        _raw.Append(json);
        bool calls = _state == State.CallsJson;
        _state = State.Content;
        if (result != ScanResult.End)
        {
            AddError(_raw.ToString(), _problem ?? (calls ? "the JSON of the calls is incomplete" : "the JSON of the arguments is incomplete"), _name, _id);
            return true;
        }
        if (calls)
        {
            AddCalls(CallJson.ReadCalls(json), _raw.ToString());
        }
        else
        {
            string? arguments = CallJson.ReadArguments(json, out string? problem);
            if (_problem is null && arguments is not null)
                AddCall(_name!, arguments, _id);
            else
                AddError(_raw.ToString(), _problem ?? problem!, _name, _id);
        }
        return true;
    }

    private bool BeginJson(State state)
    {
        _state = state;
        _scanner = default;
        return true;
    }

    private bool Fail(string problem)
    {
        AddError(_raw.ToString(), problem, _name, _id);
        _state = State.Content;
        return true;
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.';
}
