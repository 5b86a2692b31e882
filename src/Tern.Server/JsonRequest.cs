using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;

namespace Tern.Server;

/// <summary>
/// A request body read with a size limit and parsed into a JSON object, with typed accessors whose errors name the
/// parameter (as OpenAI does): wrong type, out of range, missing. Every string in it is known to be valid text:
/// the body is checked to be UTF-8, and \u escapes that leave a lone surrogate are refused, naming where.
/// </summary>
internal sealed class JsonRequest
{
    private JsonRequest(JsonElement root) => Root = root;

    public JsonElement Root { get; }

    /// <param name="allowEmpty">An empty body reads as <c>{}</c> (a route whose fields are all optional).</param>
    public static async Task<JsonRequest> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellation, bool allowEmpty = false)
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

        var body = buffer.Length == 0 && allowEmpty ? "{}"u8.ToArray() : buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (!Utf8.IsValid(body.Span))
            throw ApiException.BadRequest($"request body is not valid UTF-8 (invalid byte at offset {InvalidUtf8Offset(body.Span)})", code: "invalid_utf8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"request body is not valid JSON: {e.Message}", code: "invalid_json");
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw ApiException.BadRequest($"request body must be a JSON object, not {Kind(document.RootElement)}", code: "invalid_json");
        if (Escaped(body.Span)) // valid UTF-8 holds a lone surrogate only through a \u escape
            RequireText(document.RootElement, "");
        return new JsonRequest(document.RootElement);
    }

    /// <summary>
    /// Refuses (400) a string value or key anywhere in <paramref name="e"/> whose \u escapes leave a lone surrogate
    /// (<c>"\ud800"</c>): no text can hold one, and reading it would throw. <paramref name="at"/> is e's own path.
    /// </summary>
    public static void RequireText(JsonElement e, string at)
    {
        if (LoneSurrogate(e) is not { } bad)
            return;
        string path = (at + bad.Path).TrimStart('.');
        string what = (path.Length == 0, bad.InKey) switch
        {
            (true, _) => "the request body has a key that",
            (false, true) => $"'{path}' has a key that",
            _ => $"'{path}'",
        };
        throw ApiException.BadRequest($"{what} is not valid text: a \\u escape leaves a lone surrogate (UTF-16 halves must come in pairs)",
            path.Length == 0 ? null : path, "invalid_string");
    }

    private static int InvalidUtf8Offset(ReadOnlySpan<byte> bytes)
    {
        int offset = 0;
        while (Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed) == OperationStatus.Done)
            offset += consumed;
        return offset;
    }

    /// <summary>
    /// Where the first lone surrogate is, as a path such as <c>.messages[0].content</c> (for a key: the object's
    /// path); null when there is none. Only strings with a \u escape are decoded to check.
    /// </summary>
    private static (string Path, bool InKey)? LoneSurrogate(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                return Escaped(JsonMarshal.GetRawUtf8Value(e)) && !Decodes(e.GetString) ? ("", false) : null;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    if (Escaped(JsonMarshal.GetRawUtf8PropertyName(p)) && !Decodes(() => p.Name))
                        return ("", true);
                    if (LoneSurrogate(p.Value) is { } inner)
                        return inner with { Path = "." + p.Name + inner.Path };
                }

                return null;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in e.EnumerateArray())
                {
                    if (LoneSurrogate(item) is { } inner)
                        return inner with { Path = $"[{i}]{inner.Path}" };
                    i++;
                }

                return null;
            default:
                return null;
        }
    }

    private static bool Escaped(ReadOnlySpan<byte> raw) => raw.IndexOf("\\u"u8) >= 0;

    private static bool Decodes(Func<string?> read)
    {
        try
        {
            read();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
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
