using System.Text.Json.Nodes;

namespace Tern.Chat.Tests;

/// <summary>Renders small inline templates with variables given as JSON, for the unit tests.</summary>
internal static class TemplateHarness
{
    /// <summary>The default limits with a generous clock, so that a loaded machine cannot change which limit a test hits.</summary>
    public static readonly TemplateLimits Patient = TemplateLimits.Default with { MaxDuration = TimeSpan.FromMinutes(5) };

    /// <summary>Renders <paramref name="template"/>; <paramref name="limits"/> default to <see cref="Patient"/>.</summary>
    public static string Render(string template, string variablesJson = "{}", TemplateLimits? limits = null)
    {
        var variables = JsonNode.Parse(variablesJson)!.AsObject()
            .ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone());
        return ChatTemplate.Parse(template).Render(new ChatTemplateInput { Variables = variables, Clock = FixedClock.Golden }, limits ?? Patient);
    }

    public static TemplateException Fails(string template, string variablesJson = "{}", TemplateLimits? limits = null) =>
        Assert.Throws<TemplateException>(() => Render(template, variablesJson, limits));
}

/// <summary>A clock stopped at one instant, in UTC.</summary>
internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    /// <summary>The instant the shared goldens were rendered at: 2026-11-24 09:30.</summary>
    public static readonly FixedClock Golden = new(new DateTimeOffset(2026, 11, 24, 9, 30, 0, TimeSpan.Zero));

    public override DateTimeOffset GetUtcNow() => now;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
}
