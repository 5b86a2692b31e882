namespace Tern.Chat.ToolCalls;

/// <summary>
/// Llama 3.1–3.3: a turn that is <c>{"name": ..., "parameters": {...}}</c> (also <c>"arguments"</c>, <c>"type": "function"</c>,
/// several separated by <c>;</c>, or an array), and <c>&lt;|python_tag|&gt;</c> anywhere followed by such JSON, by a built-in
/// tool call <c>brave_search.call(query="...")</c>, or by code for the code interpreter (a call to <c>python</c> with
/// <c>{"code": ...}</c>). The server must detokenize <c>&lt;|python_tag|&gt;</c> as text for this to work.
/// </summary>
internal sealed class Llama3ToolCallParser(Func<string>? newId) : JsonFirstToolCallParser(ToolCallFormat.Llama3, newId)
{
    public const string CodeToolName = "python";
    private const string PythonTag = "<|python_tag|>";
    private static readonly string[] Tags = [PythonTag];

    private State _state;
    private string _head = "";
    private int _scanned;
    private BuiltinCallScanner _builtin;

    private enum State
    {
        Content,
        AfterTag,
        Builtin,
        Code,
    }

    private protected override string FormatHint =>
        "Respond with only {\"name\": \"<function-name>\", \"parameters\": {<arguments as a JSON object>}}";

    private protected override ReadOnlySpan<string> JsonStops => Tags;

    private protected override bool StepRest(bool final) => _state switch
    {
        State.Content => StepContent(final),
        State.AfterTag => StepAfterTag(final),
        State.Builtin => StepBuiltin(final),
        _ => StepCode(final),
    };

    private bool StepContent(bool final)
    {
        if (!ContentUntilMarker(Tags, final))
            return false; // no marker yet, or maybe the start of one: wait
        Consume(PythonTag.Length);
        _state = State.AfterTag;
        return true;
    }

    private bool StepAfterTag(bool final)
    {
        var text = Text;
        int at = Markup.SkipWhitespace(text);
        if (at < 0)
        {
            Consume(text.Length);
            if (!final)
                return false;
            AddError(PythonTag, "nothing follows <|python_tag|>");
            _state = State.Content;
            return true;
        }
        Consume(at);
        text = Text;
        if (Markup.IsJsonStart(text[0]))
        {
            _state = State.Content;
            BeginJson(definite: true, rawPrefix: PythonTag);
            return true;
        }
        var head = BuiltinCallScanner.MatchHead(text, final, out string name, out int length);
        if (head == MarkerMatch.Partial)
            return false;
        if (head == MarkerMatch.Full)
        {
            _head = PythonTag + Consume(length);
            _builtin = new BuiltinCallScanner(name);
            _state = State.Builtin;
        }
        else
        {
            _scanned = 0;
            _state = State.Code;
        }
        return true;
    }

    private bool StepBuiltin(bool final)
    {
        var text = Text;
        int end = _builtin.FindClose(text, Tags, final);
        if (end < 0 && !final)
            return false;
        _state = State.Content;
        if (end < 0 || text[end] != ')')
        {
            // cut off, or another <|python_tag|> came first
            AddError(_head + Consume(end < 0 ? text.Length : end), "the built-in tool call is not closed with ')'", _builtin.Name);
            return true;
        }
        string inner = Consume(end);
        Consume(1);
        string? arguments = BuiltinCallScanner.ReadArguments(inner, out string? problem);
        if (arguments is null)
            AddError(_head + inner + ")", problem!, _builtin.Name);
        else
            AddCall(_builtin.Name, arguments, null);
        return true;
    }

    private bool StepCode(bool final)
    {
        var text = Text;
        int at = Markup.Find(text, _scanned, Tags, final, out _);
        if (at < 0 && !final)
        {
            _scanned = text.Length; // resume here: long code is scanned once
            return false;
        }
        if (at >= 0 && !final && Markup.MatchAt(text, at, PythonTag, final) == MarkerMatch.Partial)
        {
            _scanned = at;
            return false;
        }
        string code = Consume(at < 0 ? text.Length : at).TrimEnd();
        _state = State.Content;
        AddCall(CodeToolName, "{\"code\":" + CallJson.Quote(code) + "}", null);
        return true;
    }
}
