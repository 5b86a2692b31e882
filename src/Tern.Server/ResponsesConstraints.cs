using System.Text.Json.Nodes;

namespace Tern.Server;

/// <summary>
/// The one place where a Responses request that needs constrained decoding is answered: <c>text.format</c>
/// <c>json_object</c> / <c>json_schema</c> and function tools with <c>"strict": true</c>. Their shapes are checked by <see cref="ResponsesRequest"/>; until grammar-constrained
/// sampling is wired in here, they are refused with a 400 rather than answered with unconstrained text.
/// </summary>
internal static class ResponsesConstraints
{
    public static void Require(JsonObject format, IReadOnlyList<string> strictTools)
    {
        string type = format["type"]!.GetValue<string>();
        if (type != "text")
            throw NotAvailable($"'text.format' type '{type}'", "text.format");
        if (strictTools.Count > 0)
            throw NotAvailable($"function tool '{strictTools[0]}' with \"strict\": true (send \"strict\": false)", "tools");
    }

    private static ApiException NotAvailable(string what, string param) =>
        ApiException.BadRequest($"{what} needs structured output (constrained decoding), which is not available yet on this server", param, "unsupported_value");
}
