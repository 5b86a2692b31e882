using System.Globalization;

namespace Tern.Tools;

/// <summary>
/// <c>time()</c>: the current local date and time in ISO 8601 with its UTC offset, the time zone's name and the day
/// of the week, e.g. <c>2026-12-01T07:30:00+00:00 (UTC), Tuesday</c>. The clock comes from the
/// <see cref="ToolContext"/>, so tests can fix it.
/// </summary>
public sealed class TimeTool : Tool
{
    public override string Name => "time";

    public override string Description => "Current date, time and time zone.";

    public override IReadOnlyList<ToolParameter> Parameters { get; } = [];

    protected override Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context) =>
        Task.FromResult(ToolResult.Success(Now(context.Clock)));

    /// <summary>The clock's local time as this tool reports it.</summary>
    internal static string Now(TimeProvider clock)
    {
        var zone = clock.LocalTimeZone;
        var now = TimeZoneInfo.ConvertTime(clock.GetUtcNow(), zone);
        return string.Create(CultureInfo.InvariantCulture, $"{now:yyyy-MM-dd'T'HH:mm:sszzz} ({zone.Id}), {now.DayOfWeek}");
    }
}
