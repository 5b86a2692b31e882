using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Tern.Server;

/// <summary>
/// A request body read with a size limit and parsed into a JSON object, with typed accessors whose errors name the
/// parameter (as OpenAI does): wrong type, out of range, missing.
/// </summary>
internal sealed class JsonRequest
{
    private JsonRequest(JsonElement root) => Root = root;

    public JsonElement Root { get; }

    public static async Task<JsonRequest> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellation)
    {
        if (request.ContentLength > maxBytes)
            throw new ApiException(413, $"request body of {request.ContentLength} bytes is over the limit of {maxBytes} bytes", code: "request_too_large");
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellation)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                throw new ApiException(413, $"request body is over the limit of {maxBytes} bytes", code: "request_too_large");
            buffer.Write(chunk, 0, read);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"request body is not valid JSON: {e.Message}", code: "invalid_json");
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw ApiException.BadRequest($"request body must be a JSON object, not {Kind(document.RootElement)}", code: "invalid_json");
        return new JsonRequest(document.RootElement);
    }

    public bool Has(string name) => Root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Element(string name) => Root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public JsonElement Required(string name, JsonValueKind kind) =>
        Element(name) is { } v
            ? v.ValueKind == kind ? v : throw WrongType(name, v, KindName(kind))
            : throw ApiException.BadRequest($"'{name}' is required", name, "missing_required_parameter");

    public string? String(string name) => Element(name) is { } v
        ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw WrongType(name, v, "a string")
        : null;

    public bool? Bool(string name) => Element(name) is { } v
        ? v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw WrongType(name, v, "a boolean")
        : null;

    public double? Number(string name, double min, double max)
    {
        if (Element(name) is not { } v)
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw WrongType(name, v, "a number");
        if (d < min || d > max)
            throw ApiException.BadRequest($"'{name}' must be between {min} and {max}, got {d}", name);
        return d;
    }

    public long? Integer(string name, long min, long max)
    {
        if (Element(name) is not { } v)
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n))
            throw WrongType(name, v, "an integer");
        if (n < min || n > max)
            throw ApiException.BadRequest($"'{name}' must be between {min} and {max}, got {n}", name);
        return n;
    }

    public static ApiException WrongType(string name, JsonElement value, string expected) =>
        ApiException.BadRequest($"'{name}' must be {expected}, not {Kind(value)}", name, "invalid_type");

    public static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "undefined",
    };

    private static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        _ => kind.ToString().ToLowerInvariant(),
    };
}
