namespace Tern.Chat.ToolCalls;

/// <summary>
/// Gemma 4: <c>&lt;|tool_call&gt;call:NAME{key:value,...}&lt;tool_call|&gt;</c> blocks anywhere in the turn, the arguments in
/// Gemma's own syntax (see <see cref="Gemma4Arguments"/>); a marker inside a <c>&lt;|"|&gt;</c> string does not end the block.
/// <c>&lt;|tool_response&gt;</c> hands the turn to the tools: it and anything after it is not content.
/// </summary>
internal sealed class Gemma4ToolCallParser(Func<string>? newId) : ToolCallParser(ToolCallFormat.Gemma4, newId)
{
    private const string Open = "<|tool_call>";
    private const string Close = "<tool_call|>";
    private const string Call = "call:";
    private const string ToolResponse = "<|tool_response>";
    private static readonly string[] ContentMarkers = [Open, ToolResponse];

    private enum State { Content, Call, Ended }

    private State _state;
    private int _scanned;
    private bool _inString;

    private protected override string FormatHint =>
        "Write each call as <|tool_call>call:<function-name>{<argument>:<value>,...}<tool_call|>, strings as <|\"|>text<|\"|>";

    private protected override bool Step(bool final) => _state switch
    {
        State.Content => StepContent(final),
        State.Call => StepCall(final),
        _ => Discard(),
    };

    private bool StepContent(bool final)
    {
        if (!ContentUntilMarker(ContentMarkers, final))
            return false;
        if (Markup.MatchAt(Text, 0, ToolResponse, final) == MarkerMatch.Full)
        {
            _state = State.Ended;
            return true;
        }
        _state = State.Call;
        _scanned = Open.Length;
        _inString = false;
        return true;
    }

    /// <summary>Finds <c>&lt;tool_call|&gt;</c> outside strings, resuming where the last scan stopped.</summary>
    private bool StepCall(bool final)
    {
        var text = Text;
        for (int i = _scanned; i < text.Length; i++)
        {
            if (text[i] != '<')
                continue;
            var quote = Markup.MatchAt(text, i, Gemma4Arguments.Quote, final);
            if (quote == MarkerMatch.Full)
            {
                _inString = !_inString;
                i += Gemma4Arguments.Quote.Length - 1;
                continue;
            }
            var close = _inString ? MarkerMatch.None : Markup.MatchAt(text, i, Close, final);
            if (close == MarkerMatch.Full)
            {
                string block = Consume(i + Close.Length);
                _state = State.Content;
                ReadCall(block);
                return true;
            }
            if (quote == MarkerMatch.Partial || close == MarkerMatch.Partial)
            {
                _scanned = i; // maybe the start of a marker: look again when more text has come
                return false;
            }
        }
        _scanned = text.Length;
        if (!final)
            return false;
        _state = State.Content;
        AddError(Consume(text.Length), $"the {Open} block is not closed with {Close}");
        return true;
    }

    private void ReadCall(string block)
    {
        var body = block.AsSpan(Open.Length, block.Length - Open.Length - Close.Length).Trim();
        if (!body.StartsWith(Call, StringComparison.Ordinal))
        {
            AddError(block, $"the call must start with \"{Call}\"");
            return;
        }
        body = body[Call.Length..];
        int brace = body.IndexOf('{');
        string name = (brace < 0 ? body : body[..brace]).Trim().ToString();
        if (name.Length == 0 || name.AsSpan().IndexOfAny(" \n<>,:") >= 0)
        {
            AddError(block, "the function name is missing or not followed by '{'", name.Length == 0 ? null : name);
            return;
        }
        if (brace < 0)
        {
            AddError(block, $"the function name \"{name}\" must be followed by {{arguments}}", name);
            return;
        }
        string? arguments = Gemma4Arguments.ToJson(body[brace..].ToString(), out string? problem);
        if (arguments is null)
            AddError(block, problem!, name);
        else
            AddCall(name, arguments, null);
    }

    private bool Discard()
    {
        if (Text.IsEmpty)
            return false;
        Consume(Text.Length);
        return true;
    }
}
