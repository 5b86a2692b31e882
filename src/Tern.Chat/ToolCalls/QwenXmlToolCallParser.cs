using System.Text;

namespace Tern.Chat.ToolCalls;

/// <summary>
/// Qwen3.5 / Qwen3.6 and Qwen3-Coder: <c>&lt;tool_call&gt;&lt;function=NAME&gt;&lt;parameter=ARG&gt;value&lt;/parameter&gt;...&lt;/function&gt;&lt;/tool_call&gt;</c>
/// blocks anywhere in the turn. A value is bare text up to <c>&lt;/parameter&gt;</c> (one newline on each side belongs to the
/// markup); it is typed by the tool's JSON schema (see <see cref="ArgumentTypes"/>), so <c>&lt;/tool_call&gt;</c> inside a value does
/// not end the block.
/// </summary>
internal sealed class QwenXmlToolCallParser(Func<string>? newId, ArgumentTypes types) : ToolCallParser(ToolCallFormat.QwenXml, newId)
{
    private const string Open = "<tool_call>";
    private const string Close = "</tool_call>";
    private const string FunctionOpen = "<function=";
    private const string FunctionClose = "</function>";
    private const string ParameterOpen = "<parameter=";
    private const string ParameterClose = "</parameter>";
    private const int MaxNameLength = 256;
    private static readonly string[] OpenMarker = [Open];
    private static readonly string[] CloseMarker = [Close];
    private static readonly string[] ParameterCloseMarker = [ParameterClose];

    private enum State { Content, Function, FunctionName, Body, ParameterName, ValueStart, Value, End, Skip }

    private readonly StringBuilder _raw = new();
    private readonly StringBuilder _value = new();
    private readonly List<(string Name, string Value)> _arguments = [];
    private State _state;
    private string? _function, _parameter, _problem;

    private protected override string FormatHint =>
        "Write each call as <tool_call>\n<function=<function-name>>\n<parameter=<argument-name>>\n<value>\n</parameter>\n</function>\n</tool_call>";

    private protected override bool Step(bool final)
    {
        bool progress = _state switch
        {
            State.Content => StepContent(final),
            State.Function => Expect(FunctionOpen, final) switch
            {
                MarkerMatch.Full => Go(State.FunctionName),
                MarkerMatch.Partial => false,
                _ => Malformed($"{Open} must be followed by {FunctionOpen}NAME>"),
            },
            State.FunctionName => ReadName(final, isFunction: true),
            State.Body => StepBody(final),
            State.ParameterName => ReadName(final, isFunction: false),
            State.ValueStart => StepValueStart(),
            State.Value => StepValue(final),
            State.End => Expect(Close, final) switch
            {
                MarkerMatch.Full => EndCall(),
                MarkerMatch.Partial => false,
                _ => Malformed($"{FunctionClose} must be followed by {Close}"),
            },
            _ => StepSkip(final),
        };
        if (progress || !final || _state == State.Content)
            return progress;
        // the turn ended inside a call
        _raw.Append(Consume(Text.Length));
        AddError(_raw.ToString(), _problem ?? $"the {Open} block is not closed with {Close}", _function);
        _state = State.Content;
        return true;
    }

    private bool StepContent(bool final)
    {
        if (!ContentUntilMarker(OpenMarker, final))
            return false;
        _raw.Clear().Append(Consume(Open.Length));
        _arguments.Clear();
        _function = _parameter = _problem = null;
        return Go(State.Function);
    }

    private bool StepBody(bool final)
    {
        var parameter = Expect(ParameterOpen, final);
        if (parameter == MarkerMatch.Full)
            return Go(State.ParameterName);
        var end = Expect(FunctionClose, final);
        if (end == MarkerMatch.Full)
            return Go(State.End);
        if (parameter == MarkerMatch.Partial || end == MarkerMatch.Partial)
            return false;
        return Malformed($"expected {ParameterOpen}NAME> or {FunctionClose} in the call of \"{_function}\"");
    }

    /// <summary>The name after <c>&lt;function=</c> or <c>&lt;parameter=</c>, up to <c>&gt;</c>.</summary>
    private bool ReadName(bool final, bool isFunction)
    {
        var text = Text;
        int end = text.IndexOf('>');
        int bad = text[..(end < 0 ? text.Length : end)].IndexOfAny('<', '\n');
        if (bad >= 0 || (end < 0 && (final || text.Length > MaxNameLength)) || end > MaxNameLength)
            return Malformed($"the {(isFunction ? "function" : "parameter")} name is not closed with '>'");
        if (end < 0)
            return false;
        string name = text[..end].Trim().ToString();
        _raw.Append(Consume(end + 1));
        if (name.Length == 0)
            return Malformed($"the {(isFunction ? "function" : "parameter")} name is empty");
        if (isFunction)
        {
            _function = name;
            return Go(State.Body);
        }
        if (_arguments.Exists(a => a.Name == name))
            return Malformed($"the parameter \"{name}\" is given twice");
        _parameter = name;
        _value.Clear();
        return Go(State.ValueStart);
    }

    private bool StepValueStart()
    {
        if (Text.IsEmpty)
            return false;
        if (Text[0] == '\n')
            _raw.Append(Consume(1));
        return Go(State.Value);
    }

    private bool StepValue(bool final)
    {
        var text = Text;
        int at = Markup.Find(text, 0, ParameterCloseMarker, final, out int marker);
        string piece = Consume(at < 0 ? text.Length : at);
        _raw.Append(piece);
        _value.Append(piece);
        if (marker < 0)
            return piece.Length > 0;
        _raw.Append(Consume(ParameterClose.Length));
        if (_value.Length > 0 && _value[^1] == '\n')
            _value.Length--;
        _arguments.Add((_parameter!, _value.ToString()));
        return Go(State.Body);
    }

    private bool EndCall()
    {
        _state = State.Content;
        var json = new StringBuilder("{");
        foreach (var (name, value) in _arguments)
        {
            if (json.Length > 1)
                json.Append(',');
            json.Append(CallJson.Quote(name)).Append(':');
            types.AppendValue(json, _function!, name, value);
        }
        string arguments = json.Append('}').ToString();
        if (CallJson.TryParse(arguments, out var document, out string? problem))
        {
            document.Dispose();
            AddCall(_function!, arguments, null);
        }
        else
        {
            AddError(_raw.ToString(), problem, _function); // text that is not valid UTF-16
        }
        return true;
    }

    /// <summary>After a malformed part, everything up to <c>&lt;/tool_call&gt;</c> belongs to the failed call.</summary>
    private bool StepSkip(bool final)
    {
        var text = Text;
        int at = Markup.Find(text, 0, CloseMarker, final, out int marker);
        string piece = Consume(at < 0 ? text.Length : at);
        _raw.Append(piece);
        if (marker < 0)
            return piece.Length > 0;
        _raw.Append(Consume(Close.Length));
        _state = State.Content;
        AddError(_raw.ToString(), _problem!, _function);
        return true;
    }

    /// <summary>Skips whitespace, then matches <paramref name="marker"/> at the start of the text and consumes it when whole.</summary>
    private MarkerMatch Expect(string marker, bool final)
    {
        var text = Text;
        int at = Markup.SkipWhitespace(text);
        _raw.Append(Consume(at < 0 ? text.Length : at));
        if (at < 0)
            return MarkerMatch.Partial; // more text is needed; at the end of the turn the call is not closed
        var match = Markup.MatchAt(Text, 0, marker, final);
        if (match == MarkerMatch.Full)
            _raw.Append(Consume(marker.Length));
        return match;
    }

    private bool Malformed(string problem)
    {
        _problem = problem;
        return Go(State.Skip);
    }

    private bool Go(State state)
    {
        _state = state;
        return true;
    }
}
