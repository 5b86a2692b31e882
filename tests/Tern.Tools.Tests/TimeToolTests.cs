using Tern.Tools;

namespace Tern.Tools.Tests;

public sealed class TimeToolTests
{
    [Fact]
    public void Reports_iso_8601_time_with_offset_zone_and_weekday_in_utc()
    {
        var clock = new FixedClock(new DateTimeOffset(2026, 12, 1, 7, 30, 0, TimeSpan.Zero), TimeZoneInfo.Utc);
        using var h = new ToolHarness(clock: clock);

        Assert.Equal("2026-12-01T07:30:00+00:00 (UTC), Tuesday", h.Call("time", new { }).Output);
    }

    [Fact]
    public void Converts_to_the_local_time_zone()
    {
        var zone = TimeZoneInfo.CreateCustomTimeZone("Test/Plus0530", TimeSpan.FromMinutes(330), "Test", "Test");
        var clock = new FixedClock(new DateTimeOffset(2026, 12, 31, 20, 0, 0, TimeSpan.Zero), zone);
        using var h = new ToolHarness(clock: clock);

        Assert.Equal("2027-01-01T01:30:00+05:30 (Test/Plus0530), Friday", h.Call("time", new { }).Output);
    }

    internal sealed class FixedClock(DateTimeOffset now, TimeZoneInfo zone) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public override TimeZoneInfo LocalTimeZone => zone;
    }
}
