namespace Tern.Chat.ToolCalls;

/// <summary>
/// For templates without a known tool-call format: a turn that is a JSON call (<c>{"name", "arguments"}</c>,
/// <c>{"tool_calls": [...]}</c>, an array of calls), or <c>```json</c> (or bare <c>```</c>) fenced blocks holding one anywhere in
/// the turn. JSON that is not shaped like a call stays content, and so do fenced blocks of other languages.
/// </summary>
internal sealed class GenericToolCallParser(Func<string>? newId) : JsonFirstToolCallParser(ToolCallFormat.Generic, newId)
{
    private const string Fence = "```";
    private const int MaxInfoLength = 32;
    private static readonly string[] Fences = [Fence];

    private State _state;
    private string _opening = "";
    private BlockScanner _scanner;

    private enum State
    {
        Content,
        FenceInfo,
        FenceStart,
        FenceBody,
        OtherFence,
    }

    private protected override string FormatHint =>
        "Respond with only {\"name\": \"<function-name>\", \"arguments\": {<arguments as a JSON object>}}";

    private protected override bool StepRest(bool final) => _state switch
    {
        State.Content => StepContent(final),
        State.FenceInfo => StepFenceInfo(final),
        State.FenceStart => StepFenceStart(final),
        State.FenceBody => StepFenceBody(final),
        _ => StepOtherFence(final),
    };

    private bool StepContent(bool final)
    {
        if (!ContentUntilMarker(Fences, final))
            return false; // no marker yet, or maybe the start of one: wait
        _opening = Consume(Fence.Length);
        _state = State.FenceInfo;
        return true;
    }

    /// <summary>The info string after the fence: <c>json</c> or nothing may hold a call, any other language is content.</summary>
    private bool StepFenceInfo(bool final)
    {
        var text = Text;
        int newline = text[..Math.Min(text.Length, MaxInfoLength + 1)].IndexOf('\n');
        if (newline < 0)
        {
            if (text.Length <= MaxInfoLength && !final)
                return false;
            // not a fenced block after all (``` inline or at the end)
            AddContent(_opening);
            _state = State.Content;
            return true;
        }
        var info = text[..newline].Trim();
        if (info.IsEmpty || info.Equals("json", StringComparison.OrdinalIgnoreCase))
        {
            _opening += Consume(newline + 1);
            _state = State.FenceStart;
        }
        else
        {
            AddContent(_opening + Consume(newline + 1));
            _state = State.OtherFence;
        }
        return true;
    }

    private bool StepFenceStart(bool final)
    {
        var text = Text;
        int at = Markup.SkipWhitespace(text);
        if (at < 0)
        {
            if (!final)
                return false;
            AddContent(_opening + Consume(text.Length));
            _state = State.Content;
            return true;
        }
        if (Markup.IsJsonStart(text[at]))
        {
            _scanner = default;
            _state = State.FenceBody;
        }
        else
        {
            AddContent(_opening);
            _state = State.OtherFence;
        }
        return true;
    }

    private bool StepFenceBody(bool final)
    {
        var text = Text;
        var start = CallJson.MatchCallStart(text, final);
        if (start == MarkerMatch.Partial)
            return false;
        if (start == MarkerMatch.None)
        {
            // JSON that cannot be a call: the block streams as content
            AddContent(_opening);
            _state = State.OtherFence;
            return true;
        }
        var result = _scanner.Scan(text, endAtDepthZero: false, Fences, final, out int at, out _);
        if (result == ScanResult.NeedMore)
        {
            if (!final)
                return false;
            at = text.IndexOf(Fence, StringComparison.Ordinal); // an unclosed quote hid the closing fence
        }
        string body = Consume(at < 0 ? text.Length : at);
        string closing = at < 0 ? "" : Consume(Fence.Length);
        string raw = _opening + body + closing;
        _state = State.Content;
        var calls = CallJson.ReadIfCalls(body.Trim(), complete: at >= 0 || IsCompleteJson(body));
        if (calls is null)
            AddContent(raw);
        else
            AddCalls(calls, raw);
        return true;
    }

    private bool StepOtherFence(bool final)
    {
        var text = Text;
        if (text.IsEmpty)
            return false;
        int at = Markup.Find(text, 0, Fences, final, out int marker);
        if (at < 0)
        {
            AddContent(Consume(text.Length));
            return false;
        }
        if (marker < 0)
        {
            AddContent(Consume(at));
            return false;
        }
        AddContent(Consume(at + Fence.Length));
        _state = State.Content;
        return true;
    }

    private static bool IsCompleteJson(string text)
    {
        if (!CallJson.TryParse(text, out var document, out _))
            return false;
        document.Dispose();
        return true;
    }
}
