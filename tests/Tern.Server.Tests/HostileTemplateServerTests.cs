using System.Diagnostics;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>stories260K served with a hostile chat template: deep equality of two lists nested three deep, a thousand items each.</summary>
public sealed class HostileTemplateFixture : ServerFixture
{
    private readonly TempDirectory _folder = new();

    protected override ServerOptions Options
    {
        get
        {
            string path = _folder.File("hostile.jinja");
            File.WriteAllText(path, "{% set a = [[[0] * 1000] * 1000] * 1000 %}{% set b = [[[0] * 1000] * 1000] * 1000 %}"
                + "{% if a == b %}{% for message in messages %}{{ message['content'] }}{% endfor %}{% endif %}");
            return base.Options with { ChatTemplateFile = path };
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _folder.Dispose();
    }
}

/// <summary>A chat template that would hold a core for minutes ends at the template limits as a clear 400, never a hang or a 500.</summary>
public sealed class HostileTemplateServerTests(HostileTemplateFixture fixture) : IClassFixture<HostileTemplateFixture>
{
    [Theory]
    [InlineData("/apply-template")]
    [InlineData("/v1/chat/completions")]
    public async Task A_render_past_the_template_limits_is_a_400_naming_the_limit(string path)
    {
        var watch = Stopwatch.StartNew();

        var (status, body, _) = await fixture.PostAsync(path, """{"messages": [{"role": "user", "content": "Hi"}]}""");

        Assert.Equal(400, status);
        var error = body.GetProperty("error");
        Assert.Equal("template_error", error.GetProperty("code").GetString());
        Assert.StartsWith("the chat template failed: template exceeded its ", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("limit", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"the request took {watch.Elapsed}"); // a hang guard, not a timing
    }

    [Fact]
    public async Task Hostile_renders_at_once_leave_the_server_answering()
    {
        var renders = Enumerable.Range(0, 4)
            .Select(_ => fixture.PostAsync("/apply-template", """{"messages": [{"role": "user", "content": "Hi"}]}"""))
            .ToList();

        var (health, _) = await fixture.GetAsync("/health");
        var results = await Task.WhenAll(renders);

        Assert.Equal(200, health);
        Assert.All(results, r => Assert.Equal(400, r.Status));
    }
}
