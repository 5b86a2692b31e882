using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Tools;

namespace Tern.Server;

/// <summary>
/// The built-in tools one request offers the model: the server's (--tools), all of them unless the request's
/// <c>tern_tools</c> field narrows them (<c>["read_file", "grep"]</c>) or switches them off (<c>[]</c> or
/// <c>false</c>). Only offered tools go into the prompt, and only their calls run; a call to another name is the
/// client's, as with any unknown tool. Calls go through the server's <see cref="ToolSet"/> (its workspace, limits,
/// concurrency bound and audit log).
/// </summary>
internal sealed class BuiltinTools
{
    /// <summary>The request field (chat completions, Responses, Messages).</summary>
    public const string Field = "tern_tools";

    private readonly ToolSet _set;

    private BuiltinTools(ToolSet set, IReadOnlyList<Tool> offered)
    {
        _set = set;
        Offered = offered;
    }

    public IReadOnlyList<Tool> Offered { get; }

    /// <summary>Every tool of the set.</summary>
    public static BuiltinTools All(ToolSet set) => new(set, set.Tools);

    /// <summary>
    /// The tools <paramref name="r"/> asks for out of <paramref name="server"/>'s: null when there are none (no
    /// --tools) or the request switched them off. A name that is not an enabled tool, a wrong type, or asking for
    /// tools from a server without them is a 400 naming the field.
    /// </summary>
    public static BuiltinTools? Read(JsonRequest r, ToolSet? server)
    {
        if (r.Element(Field) is not { } value)
            return server is null ? null : All(server);
        if (value.ValueKind == JsonValueKind.False || value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 0)
            return null;
        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.Array))
            throw JsonRequest.WrongType(Field, value, "an array of built-in tool names or a boolean");
        if (server is null)
            throw ApiException.BadRequest($"'{Field}' asks for built-in tools, but they are off (start the server with --tools)", Field);
        if (value.ValueKind == JsonValueKind.True)
            return All(server);

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in value.EnumerateArray())
        {
            if (name.ValueKind != JsonValueKind.String)
                throw ApiException.BadRequest($"'{Field}' must hold tool names (strings)", Field);
            string text = name.GetString()!;
            if (!server.Contains(text))
                throw ApiException.BadRequest(
                    $"'{Field}' names '{Shorten(text)}', which is not an enabled built-in tool (enabled: {string.Join(", ", server.Tools.Select(t => t.Name))})", Field);
            names.Add(text);
        }

        return new BuiltinTools(server, [.. server.Tools.Where(t => names.Contains(t.Name))]);
    }

    public bool Contains(string name) => Offered.Any(t => t.Name == name);

    /// <summary>Adds the offered tools' schemas to <paramref name="tools"/> (the client's, or a new array when null) and returns it.</summary>
    public JsonArray AddSchemas(JsonArray? tools)
    {
        tools ??= [];
        foreach (var tool in Offered)
            tools.Add(JsonNode.Parse(tool.Schema.GetRawText()));
        return tools;
    }

    public Task<ToolResult> InvokeAsync(string name, string? argumentsJson, string requestId, CancellationToken cancellation) =>
        _set.InvokeAsync(name, argumentsJson, requestId, cancellation);

    private static string Shorten(string name) => name.Length <= 100 ? name : name[..100] + "…";
}
