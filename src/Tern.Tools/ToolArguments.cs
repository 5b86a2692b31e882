using System.Globalization;
using System.Text.Json;

namespace Tern.Tools;

/// <summary>
/// A tool's arguments after validation against its <see cref="ToolParameter"/> list: every required argument is
/// there, every value has the declared type, nothing unknown was passed. Models are not perfect JSON writers, so an
/// integer may also arrive as a whole float (<c>10.0</c>) or a numeric string (<c>"10"</c>), and an explicit
/// <c>null</c> counts as absent; everything else that does not fit is a readable error, not an exception.
/// </summary>
public sealed class ToolArguments
{
    private const int MaxProblems = 10;

    private readonly Dictionary<string, object> _values;

    private ToolArguments(Dictionary<string, object> values) => _values = values;

    /// <summary>A required string argument (validation guarantees it is there).</summary>
    public string GetString(string name) =>
        _values.TryGetValue(name, out var value) ? (string)value : throw new ArgumentException($"argument '{name}' was not given", nameof(name));

    public string? GetOptionalString(string name) => _values.TryGetValue(name, out var value) ? (string)value : null;

    public long? GetOptionalInteger(string name) => _values.TryGetValue(name, out var value) ? (long)value : null;

    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>Validates <paramref name="arguments"/>; on failure <paramref name="error"/> says every problem found.</summary>
    public static bool TryParse(JsonElement arguments, IReadOnlyList<ToolParameter> parameters, string toolName, out ToolArguments result, out string error)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        result = new ToolArguments(values);
        var problems = new List<string>();
        if (arguments.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            arguments = default;
        }
        else if (arguments.ValueKind != JsonValueKind.Object)
        {
            error = $"the arguments of {toolName} must be a JSON object, not {Describe(arguments.ValueKind)}";
            return false;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (arguments.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in arguments.EnumerateObject())
            {
                if (problems.Count >= MaxProblems)
                {
                    break;
                }

                string name = NameOf(property);
                var parameter = parameters.FirstOrDefault(p => p.Name == name);
                if (parameter is null)
                {
                    problems.Add($"unknown argument {Workspace.Quote(name)} ({toolName} takes {Names(parameters)})");
                    continue;
                }

                if (!seen.Add(name))
                {
                    problems.Add($"argument '{name}' is given more than once");
                    continue;
                }

                if (property.Value.ValueKind == JsonValueKind.Null)
                {
                    continue;
                }

                string? problem = parameter.Type == ToolParameterType.String
                    ? ReadString(parameter, property.Value, values)
                    : ReadInteger(parameter, property.Value, values);
                if (problem is not null)
                {
                    problems.Add(problem);
                }
            }
        }

        foreach (var parameter in parameters)
        {
            if (parameter.Required && !values.ContainsKey(parameter.Name) && !problems.Any(p => p.StartsWith($"argument '{parameter.Name}'", StringComparison.Ordinal)))
            {
                problems.Add($"missing required argument '{parameter.Name}'");
            }
        }

        error = string.Join("; ", problems);
        return problems.Count == 0;
    }

    private static string? ReadString(ToolParameter parameter, JsonElement value, Dictionary<string, object> values)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            return $"argument '{parameter.Name}' must be a string, not {Describe(value.ValueKind)}";
        }

        try
        {
            values[parameter.Name] = value.GetString()!;
            return null;
        }
        catch (InvalidOperationException)
        {
            // e.g. a lone UTF-16 surrogate escape ("\ud800")
            return $"argument '{parameter.Name}' is not valid Unicode text";
        }
    }

    private static string? ReadInteger(ToolParameter parameter, JsonElement value, Dictionary<string, object> values)
    {
        long number;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long exact))
        {
            number = exact;
        }
        else if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && Math.Abs(d) < 1e15 && d == Math.Floor(d))
        {
            number = (long)d;
        }
        else if (value.ValueKind == JsonValueKind.String
                 && long.TryParse(value.GetString()?.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed))
        {
            number = parsed;
        }
        else
        {
            return $"argument '{parameter.Name}' must be an integer, not {Describe(value.ValueKind)}";
        }

        if (number < parameter.Minimum)
        {
            return $"argument '{parameter.Name}' must be at least {parameter.Minimum}";
        }

        if (number > parameter.Maximum)
        {
            return $"argument '{parameter.Name}' must be at most {parameter.Maximum}";
        }

        values[parameter.Name] = number;
        return null;
    }

    /// <summary>A property name, with invalid UTF-16 (a lone surrogate escape) replaced rather than thrown.</summary>
    internal static string NameOf(JsonProperty property)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException)
        {
            return "\uFFFD";
        }
    }

    private static string Names(IReadOnlyList<ToolParameter> parameters) =>
        parameters.Count == 0 ? "no arguments" : string.Join(", ", parameters.Select(p => p.Name));

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
