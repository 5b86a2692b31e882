namespace Tern.Server;

/// <summary>
/// The Responses request that still needs constrained decoding it does not have: function tools with
/// <c>"strict": true</c> under <c>tool_choice: "auto"</c> (a call the model may or may not make). It is refused with a
/// 400 rather than answered with unconstrained arguments. (<c>text.format</c> and forced calls run under grammars.)
/// </summary>
internal static class ResponsesConstraints
{
    public static void Require(IReadOnlyList<string> strictTools)
    {
        if (strictTools.Count > 0)
            throw ApiException.BadRequest($"function tool '{strictTools[0]}' with \"strict\": true needs constrained decoding of optional calls, which is not available yet on this server (send \"strict\": false)", "tools", "unsupported_value");
    }
}
