using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tern.Tools.Mcp;

/// <summary>
/// One tool of an MCP server, offered to the model as <c>SERVER_TOOL</c> with the server's own description (cut to
/// <see cref="McpOptions.MaxDescriptionLength"/>) and input schema. Calls go through <see cref="ToolSet"/> like a
/// built-in tool's (slots, audit log); the server validates the arguments, Tern only checks they are an object.
/// </summary>
public sealed class McpTool : Tool
{
    private readonly McpConnection _connection;
    private readonly string _remoteName;

    internal McpTool(McpConnection connection, ModelContextProtocol.Protocol.Tool tool, int maxDescriptionLength)
    {
        _connection = connection;
        _remoteName = tool.Name;
        Name = connection.Name + "_" + tool.Name;
        string description = tool.Description ?? tool.Title ?? tool.Name;
        Description = description.Length > maxDescriptionLength ? description[..maxDescriptionLength] + "..." : description;
        var parameters = tool.InputSchema.ValueKind == JsonValueKind.Object ? JsonNode.Parse(tool.InputSchema.GetRawText())! : new JsonObject { ["type"] = "object" };
        (parameters as JsonObject)?.Remove("$schema"); // tokens on every request, and no model needs it
        var schema = new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = Name, ["description"] = Description, ["parameters"] = parameters },
        };
        Schema = JsonSerializer.SerializeToElement(schema);
    }

    public override string Name { get; }

    public override string Description { get; }

    /// <summary>None in Tern's terms: the schema is the server's (<see cref="Schema"/>).</summary>
    public override IReadOnlyList<ToolParameter> Parameters => [];

    public override JsonElement Schema { get; }

    /// <summary>The server this tool belongs to.</summary>
    public McpConnection Server => _connection;

    public override Task<ToolResult> ExecuteAsync(JsonElement arguments, ToolContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (arguments.ValueKind is not (JsonValueKind.Object or JsonValueKind.Undefined or JsonValueKind.Null))
        {
            return Task.FromResult(ToolResult.Failure($"the arguments of {Name} must be a JSON object"));
        }

        return _connection.CallAsync(_remoteName, arguments, context.CancellationToken);
    }

    /// <summary>Not used: <see cref="ExecuteAsync"/> passes the arguments to the server as they are.</summary>
    protected override Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context) =>
        throw new NotSupportedException("MCP tools are run by ExecuteAsync");
}
