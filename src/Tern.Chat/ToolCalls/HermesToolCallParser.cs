namespace Tern.Chat.ToolCalls;

/// <summary>
/// <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c> blocks anywhere in the turn (Hermes, Qwen). A block
/// holds one call object or an array of them; a closing tag inside a JSON string does not end the block.
/// </summary>
internal sealed class HermesToolCallParser(Func<string>? newId) : ToolCallParser(ToolCallFormat.Hermes, newId)
{
    private const string Open = "<tool_call>";
    private const string Close = "</tool_call>";
    private static readonly string[] OpenMarker = [Open];
    private static readonly string[] BlockStops = [Close, Open];

    private bool _inCall;
    private BlockScanner _scanner;

    private protected override string FormatHint =>
        "Write each call as <tool_call>\n{\"name\": \"<function-name>\", \"arguments\": {<arguments as a JSON object>}}\n</tool_call>";

    private protected override bool Step(bool final) => _inCall ? StepCall(final) : StepContent(final);

    private bool StepContent(bool final)
    {
        if (!ContentUntilMarker(OpenMarker, final))
            return false; // no marker yet, or maybe the start of one: wait
        Consume(Open.Length);
        _inCall = true;
        _scanner = default;
        return true;
    }

    private bool StepCall(bool final)
    {
        var text = Text;
        var result = _scanner.Scan(text, endAtDepthZero: false, BlockStops, final, out int at, out int stop);
        if (result == ScanResult.NeedMore)
        {
            if (!final)
                return false;
            // a quote the model never closed hides the closing tag from the scanner: fall back to the plain text
            at = text.IndexOf(Close, StringComparison.Ordinal);
            stop = 0;
            if (at < 0)
            {
                _inCall = false;
                AddError(Open + Consume(text.Length), "the <tool_call> block is not closed with </tool_call>");
                return true;
            }
        }
        string body = Consume(at);
        _inCall = false;
        if (stop == 0)
        {
            Consume(Close.Length);
            AddCalls(CallJson.ReadCalls(body), Open + body + Close);
        }
        else
        {
            AddError(Open + body, "the <tool_call> block is not closed with </tool_call> before the next <tool_call>");
        }
        return true;
    }
}
