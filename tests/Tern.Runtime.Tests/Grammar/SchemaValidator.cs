using System.Text.Json;
using Json.Schema;

namespace Tern.Runtime.Tests.Grammar;

/// <summary>JsonSchema.Net, with format assertions on, as the reference validator.</summary>
internal static class SchemaValidator
{
    private static readonly EvaluationOptions Options = new() { RequireFormatValidation = true };

    public static bool IsValid(string schema, string instance)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(instance);
        }
        catch (JsonException)
        {
            return false;
        }

        using (doc)
            return JsonSchema.FromText(schema).Evaluate(doc.RootElement, Options).IsValid;
    }
}
