using System.Text;
using System.Text.Json;

namespace Tern.Tools;

/// <summary>
/// A built-in tool: a name, a description and parameters the model sees (as an OpenAI function tool), and the code
/// that runs a call. <see cref="ExecuteAsync"/> validates the arguments first and turns the expected failures
/// (sandbox refusals, I/O errors) into error results, so a bad call never throws at the caller.
/// </summary>
public abstract class Tool
{
    private JsonElement? _schema;

    /// <summary>The description of a path parameter (kept short: every tool-enabled prompt carries it).</summary>
    protected const string PathInWorkspace = "Relative to the workspace root.";

    public abstract string Name { get; }

    /// <summary>What the model reads to decide when and how to call the tool.</summary>
    public abstract string Description { get; }

    public abstract IReadOnlyList<ToolParameter> Parameters { get; }

    /// <summary>
    /// <c>{"type":"function","function":{"name":...,"description":...,"parameters":{JSON schema}}}</c>, the shape of
    /// one entry of an OpenAI request's <c>tools</c> array.
    /// </summary>
    public virtual JsonElement Schema => _schema ??= BuildSchema();

    public virtual async Task<ToolResult> ExecuteAsync(JsonElement arguments, ToolContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!ToolArguments.TryParse(arguments, Parameters, Name, out var parsed, out string error))
        {
            return ToolResult.Failure(error);
        }

        try
        {
            return await RunAsync(parsed, context).ConfigureAwait(false);
        }
        catch (ToolSandboxException e)
        {
            return ToolResult.Failure(e.Message);
        }
        catch (UnauthorizedAccessException)
        {
            return ToolResult.Failure("permission denied");
        }
        catch (IOException e)
        {
            return ToolResult.Failure(e.Message);
        }
    }

    /// <summary>Runs a call whose arguments have been validated against <see cref="Parameters"/>.</summary>
    protected abstract Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context);

    private JsonElement BuildSchema()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "function");
            json.WriteStartObject("function");
            json.WriteString("name", Name);
            json.WriteString("description", Description);
            json.WriteStartObject("parameters");
            json.WriteString("type", "object");
            json.WriteStartObject("properties");
            foreach (var p in Parameters)
            {
                json.WriteStartObject(p.Name);
                json.WriteString("type", p.Type == ToolParameterType.String ? "string" : "integer");
                if (p.Description.Length > 0)
                {
                    json.WriteString("description", p.Description);
                }
                if (p.Minimum is long min)
                {
                    json.WriteNumber("minimum", min);
                }

                if (p.Maximum is long max)
                {
                    json.WriteNumber("maximum", max);
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteStartArray("required");
            foreach (var p in Parameters.Where(p => p.Required))
            {
                json.WriteStringValue(p.Name);
            }

            json.WriteEndArray();
            json.WriteBoolean("additionalProperties", false);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.ToArray());
        return document.RootElement.Clone();
    }

    /// <summary>Appends a bracketed note on its own line, e.g. <c>[truncated ...]</c>.</summary>
    protected static void AppendNote(StringBuilder text, string note)
    {
        if (text.Length > 0 && text[^1] != '\n')
        {
            text.Append('\n');
        }

        text.Append('[').Append(note).Append(']');
    }
}
