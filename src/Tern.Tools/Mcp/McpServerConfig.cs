using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tern.Tools.Mcp;

/// <summary>
/// One entry of an MCP config file's <c>mcpServers</c> object (the shape Claude Desktop, VS Code and Cursor use):
/// a stdio server (<see cref="Command"/>, <see cref="Args"/>, <see cref="Env"/>, <see cref="Network"/>,
/// <see cref="Cwd"/>, <see cref="ReadOnlyPaths"/>) run in the sandbox, or a streamable HTTP server
/// (<see cref="Url"/>, <see cref="Headers"/>).
/// </summary>
public sealed record McpServerConfig(string Name)
{
    public string? Command { get; init; }

    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>Variables the server gets besides PATH, HOME, LANG and TMPDIR (the rest of Tern's environment is not passed).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Env { get; init; } = [];

    /// <summary>Keep the host's network (default: none, only a private loopback).</summary>
    public bool Network { get; init; }

    /// <summary>Where the server starts: a directory inside the workspace (relative to it), default the workspace.</summary>
    public string? Cwd { get; init; }

    /// <summary>Host files or directories shown read-only inside the sandbox at the same path (the server's code, say).</summary>
    public IReadOnlyList<string> ReadOnlyPaths { get; init; } = [];

    public Uri? Url { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public bool IsHttp => Url is not null;
}

/// <summary>
/// Reads an MCP config file: <c>{"mcpServers": {"NAME": {...}}}</c>. Anything it does not understand (an unknown
/// key, a value of the wrong type, a bad name, both or neither of <c>command</c> and <c>url</c>) is an
/// <see cref="ArgumentException"/> that names the file and the field, so <c>tern serve</c> stops at start-up.
/// </summary>
public static partial class McpConfigFile
{
    private static readonly string[] StdioKeys = ["type", "command", "args", "env", "network", "cwd", "readOnlyPaths"];
    private static readonly string[] HttpKeys = ["type", "url", "headers"];

    /// <summary>Server names become the prefix of their tools' names (NAME_TOOL), so they keep to what tool names allow.</summary>
    [GeneratedRegex("^[A-Za-z0-9-]{1,32}$")]
    private static partial Regex NamePattern();

    public static IReadOnlyList<McpServerConfig> Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--mcp-config {path}: cannot read it: {e.Message}");
        }

        return Parse(text, path);
    }

    public static IReadOnlyList<McpServerConfig> Parse(string json, string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"--mcp-config {path}: not valid JSON: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Error(path, "(top level)", "must be an object with an \"mcpServers\" object");
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name != "mcpServers")
                    throw Error(path, property.Name, "is not a known key (the file holds one object, \"mcpServers\")");
            }

            if (!root.TryGetProperty("mcpServers", out var servers) || servers.ValueKind != JsonValueKind.Object)
                throw Error(path, "mcpServers", "is missing or not an object");
            var result = new List<McpServerConfig>();
            foreach (var server in servers.EnumerateObject())
            {
                string field = "mcpServers." + server.Name;
                if (!NamePattern().IsMatch(server.Name))
                    throw Error(path, field, "is not a valid server name: use 1 to 32 letters, digits or '-' (its tools are called NAME_TOOL)");
                if (result.Any(r => r.Name.Equals(server.Name, StringComparison.OrdinalIgnoreCase)))
                    throw Error(path, field, "is named twice");
                result.Add(ParseServer(server.Name, server.Value, path, field));
            }

            return result;
        }
    }

    private static McpServerConfig ParseServer(string name, JsonElement entry, string path, string field)
    {
        if (entry.ValueKind != JsonValueKind.Object)
            throw Error(path, field, "must be an object");
        bool http = entry.TryGetProperty("url", out _);
        if (http == entry.TryGetProperty("command", out _))
            throw Error(path, field, "needs either \"command\" (a stdio server) or \"url\" (a streamable HTTP server), not both or neither");
        string[] known = http ? HttpKeys : StdioKeys;
        foreach (var property in entry.EnumerateObject())
        {
            if (!known.Contains(property.Name))
                throw Error(path, $"{field}.{property.Name}", $"is not a known key (a {(http ? "URL" : "command")} server takes {string.Join(", ", known)})");
        }

        if (entry.TryGetProperty("type", out var type))
        {
            string? kind = type.ValueKind == JsonValueKind.String ? type.GetString() : null;
            bool fits = http ? kind is "http" or "streamable-http" or "streamableHttp" : kind == "stdio";
            if (!fits)
                throw Error(path, $"{field}.type", http ? "must be \"http\" with \"url\" (only streamable HTTP is supported, not SSE)" : "must be \"stdio\" with \"command\"");
        }

        if (http)
        {
            string url = String(entry, "url", path, field)!;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw Error(path, $"{field}.url", "must be an absolute http:// or https:// URL");
            return new McpServerConfig(name) { Url = uri, Headers = Map(entry, "headers", path, field) };
        }

        string command = String(entry, "command", path, field)!;
        if (command.Length == 0)
            throw Error(path, $"{field}.command", "is empty");
        string? cwd = String(entry, "cwd", path, field);
        if (cwd is not null && (cwd.Length == 0 || cwd.Split('/').Contains("..")))
            throw Error(path, $"{field}.cwd", "must be a directory inside the workspace (relative to it, without '..')");
        var readOnly = Strings(entry, "readOnlyPaths", path, field);
        foreach (string p in readOnly)
        {
            if (!System.IO.Path.IsPathRooted(p) || p.Split('/').Contains(".."))
                throw Error(path, $"{field}.readOnlyPaths", $"must hold absolute paths without '..', not '{p}'");
        }

        bool network = false;
        if (entry.TryGetProperty("network", out var n))
        {
            network = n.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(path, $"{field}.network", "must be true or false"),
            };
        }

        return new McpServerConfig(name)
        {
            Command = command,
            Args = Strings(entry, "args", path, field),
            Env = Map(entry, "env", path, field),
            Network = network,
            Cwd = cwd,
            ReadOnlyPaths = readOnly,
        };
    }

    private static string? String(JsonElement entry, string key, string path, string field)
    {
        if (!entry.TryGetProperty(key, out var value))
            return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Error(path, $"{field}.{key}", "must be a string");
    }

    private static string[] Strings(JsonElement entry, string key, string path, string field)
    {
        if (!entry.TryGetProperty(key, out var value))
            return [];
        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
            throw Error(path, $"{field}.{key}", "must be an array of strings");
        var strings = value.EnumerateArray().Select(v => v.GetString()!).ToArray();
        return strings.Any(s => s.Contains('\0', StringComparison.Ordinal)) ? throw Error(path, $"{field}.{key}", "holds a NUL character") : strings;
    }

    private static KeyValuePair<string, string>[] Map(JsonElement entry, string key, string path, string field)
    {
        if (!entry.TryGetProperty(key, out var value))
            return [];
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(path, $"{field}.{key}", "must be an object of strings");
        var pairs = new List<KeyValuePair<string, string>>();
        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
                throw Error(path, $"{field}.{key}.{property.Name}", "must be a string");
            string text = property.Value.GetString()!;
            if (property.Name.Length == 0 || property.Name.Contains('=', StringComparison.Ordinal) || (property.Name + text).Contains('\0', StringComparison.Ordinal)
                || (key == "headers" && (property.Name + text).Any(c => c is '\r' or '\n')))
                throw Error(path, $"{field}.{key}.{property.Name}", "is not a valid name or value");
            pairs.Add(new(property.Name, text));
        }

        return [.. pairs];
    }

    private static ArgumentException Error(string path, string field, string problem) => new($"--mcp-config {path}: {field} {problem}");
}
