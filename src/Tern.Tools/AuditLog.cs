using System.Text;
using System.Text.Json;

namespace Tern.Tools;

/// <summary>
/// Appends one JSON line per tool call to a file:
/// <c>{"time":"2026-12-01T07:30:00.123+00:00","request_id":"...","tool":"read_file","arguments":{...},"outcome":"ok","message":null,"bytes":42,"duration_ms":1.7}</c>.
/// <c>outcome</c> is <c>ok</c> or <c>error</c> (then <c>message</c> says why) or <c>cancelled</c>; <c>bytes</c> is
/// the size of the output given to the model. Long strings inside the arguments are shortened (a write_file call
/// does not copy the whole file into the log). Appends are serialized, each line is written with one call in append
/// mode, and a failing write never fails the tool call (see <see cref="LastError"/>).
/// </summary>
public sealed class AuditLog
{
    public const int MaxLoggedStringChars = 1024;

    private const int MaxLoggedDepth = 16;

    private readonly object _gate = new();

    /// <summary>Opens (creating it when missing) the log file, so a bad path fails at start rather than on the first call.</summary>
    public AuditLog(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
        using var _ = Open();
    }

    public string Path { get; }

    /// <summary>The last error writing the log, or null.</summary>
    public Exception? LastError { get; private set; }

    /// <summary>Appends one record. <paramref name="arguments"/> is logged as JSON when it is valid JSON, as a string otherwise.</summary>
    public void Append(DateTimeOffset time, string requestId, string tool, JsonElement? arguments, string? rawArguments, string outcome, string? message, int bytes, TimeSpan duration)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", time.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("request_id", Shorten(requestId));
            json.WriteString("tool", Shorten(tool));
            json.WritePropertyName("arguments");
            if (arguments is { ValueKind: not JsonValueKind.Undefined } element)
            {
                WriteShortened(json, element, 0);
            }
            else if (rawArguments is not null)
            {
                json.WriteStringValue(Shorten(rawArguments));
            }
            else
            {
                json.WriteNullValue();
            }

            json.WriteString("outcome", outcome);
            if (message is null)
            {
                json.WriteNull("message");
            }
            else
            {
                json.WriteString("message", Shorten(message));
            }

            json.WriteNumber("bytes", bytes);
            json.WriteNumber("duration_ms", Math.Round(duration.TotalMilliseconds, 3));
            json.WriteEndObject();
        }

        buffer.WriteByte((byte)'\n');
        lock (_gate)
        {
            try
            {
                using var file = Open();
                file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
                LastError = null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LastError = e;
            }
        }
    }

    private FileStream Open() => new(Path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    private static string Shorten(string text)
    {
        string shortened = text.Length <= MaxLoggedStringChars ? text : $"{text[..MaxLoggedStringChars]}… [{text.Length} characters]";

        // Lone surrogates cannot be written as JSON text; keep the line valid.
        return shortened.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF') ? Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(shortened)) : shortened;
    }

    private static void WriteShortened(Utf8JsonWriter json, JsonElement element, int depth)
    {
        if (depth >= MaxLoggedDepth && element.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
        {
            json.WriteStringValue("[nested too deep]");
            return;
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                json.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    json.WritePropertyName(Shorten(ToolArguments.NameOf(property)));
                    WriteShortened(json, property.Value, depth + 1);
                }

                json.WriteEndObject();
                break;
            case JsonValueKind.Array:
                json.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteShortened(json, item, depth + 1);
                }

                json.WriteEndArray();
                break;
            case JsonValueKind.String:
                string value;
                try
                {
                    value = element.GetString()!;
                }
                catch (InvalidOperationException)
                {
                    value = "[invalid Unicode]";
                }

                json.WriteStringValue(Shorten(value));
                break;
            default:
                element.WriteTo(json);
                break;
        }
    }
}
