namespace Tern.Tools;

public enum ToolParameterType
{
    String,
    Integer,
}

/// <summary>One argument a tool takes; the JSON schema and the argument validation are both built from these.</summary>
public sealed record ToolParameter(string Name, ToolParameterType Type, string Description, bool Required = false)
{
    /// <summary>Smallest allowed value of an integer argument.</summary>
    public long? Minimum { get; init; }

    /// <summary>Largest allowed value of an integer argument.</summary>
    public long? Maximum { get; init; }
}
