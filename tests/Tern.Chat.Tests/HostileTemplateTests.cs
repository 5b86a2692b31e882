using System.Diagnostics;
using System.Text.Json.Nodes;
using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>
/// Templates from a GGUF file are untrusted: the work inside every operation (comparing, searching, copying, sorting)
/// counts against the render's steps, all strings built together stay within a few times the output limit, a render
/// stops at its time limit or when its caller cancels, and only a few renders of one template run at once.
/// </summary>
public sealed class HostileTemplateTests
{
    /// <summary>Two separate lists nested three deep, a thousand items at each level: a billion items to compare.</summary>
    private const string NestedLists =
        "{% set a = [[[0] * 1000] * 1000] * 1000 %}{% set b = [[[0] * 1000] * 1000] * 1000 %}";

    /// <summary>Limits under which only the clock or the caller can stop a render.</summary>
    private static readonly TemplateLimits Endless = new() { MaxSteps = long.MaxValue, MaxDuration = TimeSpan.FromMinutes(10) };

    [Fact]
    public void Deep_equality_of_nested_lists_is_charged_to_the_step_limit()
    {
        var error = FailsWithin(NestedLists + "{{ a == b }}");

        Assert.Contains("evaluation steps", error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{{ a != b }}")]
    [InlineData("{{ a < b + [1] }}")]
    [InlineData("{{ a in [b] }}")]
    [InlineData("{{ [b, b]|select('equalto', a)|list }}")]
    [InlineData("{% for x in [a, b] %}{{ loop.changed(x) }}{% endfor %}")]
    [InlineData("{{ [b].index(a) }}")]
    [InlineData("{{ [b, a]|sort }}")]
    public void Every_comparison_of_nested_lists_is_charged_to_the_step_limit(string expression)
    {
        var error = FailsWithin(NestedLists + expression);

        Assert.Contains("evaluation steps", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Hashing_a_deeply_nested_tuple_key_is_charged_to_the_step_limit()
    {
        var error = FailsWithin("{% set t = (((0,) * 1000,) * 1000,) * 1000 %}{% set d = {t: 1} %}");

        Assert.Contains("evaluation steps", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Comparing_lists_nested_deeper_than_the_stack_allows_fails_cleanly()
    {
        var error = FailsWithin("{% set ns = namespace(a=[], b=[]) %}{% for i in range(100000) %}"
            + "{% set ns.a = [ns.a] %}{% set ns.b = [ns.b] %}{% endfor %}{{ ns.a == ns.b }}");

        Assert.Contains("maximum recursion depth exceeded in comparison", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Searching_a_long_string_is_charged_for_its_length()
    {
        const string Template = "{% set text = 'a' * 1000000 %}{% for i in range(100) %}{% if 'zz' in text %}{% endif %}{% endfor %}";
        var limits = Patient with { MaxSteps = 100_000 };

        Assert.Contains("evaluation steps", FailsWithin(Template, limits).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_needle_in_a_long_text_is_charged_before_the_search()
    {
        var error = FailsWithin("{{ ('a' * 1000000 + 'b' + 'a' * 1000000) in ('a' * 4000000) }}");

        Assert.Contains("evaluation steps", error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("text.find('zz')")]
    [InlineData("text.split('zz')")]
    [InlineData("text.replace('zz', '')")]
    [InlineData("text|replace('zz', '')")]
    [InlineData("text.strip()")]
    [InlineData("text|lower")]
    [InlineData("text[1:]")]
    [InlineData("text == text[1:] ~ 'a'")]
    [InlineData("{text: 1}")]
    public void String_operations_are_charged_for_the_characters_they_read(string expression)
    {
        string template = "{% set text = 'a' * 1000000 %}{% for i in range(100) %}{% set x = " + expression + " %}{% endfor %}";
        var limits = Patient with { MaxSteps = 100_000 };

        Assert.Contains("evaluation steps", FailsWithin(template, limits).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Sorting_a_long_list_is_charged_for_its_comparisons()
    {
        var error = FailsWithin("{{ (range(1000000)|list|sort)|length }}");

        Assert.Contains("evaluation steps", error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("([text] * 1000)|unique|list")]
    [InlineData("([text] * 1000)|sort")]
    [InlineData("{'a': text, 'b': text}|dictsort(by='value')")]
    public void Case_insensitive_keys_are_charged_for_the_strings_they_lower(string expression)
    {
        string template = "{% set text = 'A' * 1000000 %}{% for i in range(100) %}{% set x = " + expression + " %}{% endfor %}";

        Assert.Contains("built strings", FailsWithin(template).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Joining_large_strings_again_and_again_hits_the_total_string_allowance()
    {
        var error = FailsWithin("{% for i in range(100) %}{% set s = (['abc' * 10000] * 100)|join(',') %}{% endfor %}");

        Assert.Contains("built strings", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Repeating_large_strings_again_and_again_hits_the_total_string_allowance()
    {
        var error = FailsWithin("{% for i in range(100) %}{% set s = 'x' * 4000000 %}{% endfor %}");

        Assert.Contains("built strings", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Growing_a_string_by_concatenation_hits_the_total_string_allowance()
    {
        var error = FailsWithin("{% set ns = namespace(s='') %}{% for i in range(600) %}{% set ns.s = ns.s ~ ('x' * 5000) %}{% endfor %}");

        Assert.Contains("built strings", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replace_that_would_blow_a_string_up_past_the_limit_fails_before_building_it()
    {
        var error = FailsWithin("{{ ('a' * 5000)|replace('a', 'b' * 1000) }}");

        Assert.Contains("beyond the template limits", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_list_of_millions_of_items_fails_before_allocating()
    {
        var error = FailsWithin("{{ ([0] * 2000000)|length }}");

        Assert.Contains("built lists", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_render_stops_at_its_time_limit()
    {
        var limits = Endless with { MaxDuration = TimeSpan.FromMilliseconds(200) };

        var error = FailsWithin("{% for i in range(10**9) %}{{ '' }}{% endfor %}", limits);

        Assert.Contains("time limit of 0.2 s", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Cancelling_a_render_stops_it_promptly()
    {
        var template = ChatTemplate.Parse("{% for i in range(10**9) %}{{ '' }}{% endfor %}");
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        var render = Task.Run(() => template.Render(new ChatTemplateInput(), Endless, cancellation.Token), TestContext.Current.CancellationToken);

        Assert.True(((IAsyncResult)render).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)), "the render did not stop after cancellation");
        Assert.IsAssignableFrom<OperationCanceledException>(render.Exception?.InnerException);
    }

    [Fact]
    public async Task At_most_two_renders_of_one_template_run_at_once_and_waiting_honours_cancellation()
    {
        var template = ChatTemplate.Parse("{{ strftime_now('%Y') }}");
        using var clock = new GateClock();
        var input = new ChatTemplateInput { Clock = clock };
        var renders = Enumerable.Range(0, 6).Select(_ => Task.Run(() => template.RenderAsync(input), TestContext.Current.CancellationToken)).ToList();
        Assert.True(clock.WaitForInside(ChatTemplate.MaxConcurrentRenders), "two renders did not start");

        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => template.RenderAsync(input, cancellation: cancellation.Token));
        Assert.Equal(ChatTemplate.MaxConcurrentRenders, clock.Inside);

        clock.Open();
        string[] results = await Task.WhenAll(renders).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.All(results, text => Assert.Equal("2026", text));
        Assert.Equal(ChatTemplate.MaxConcurrentRenders, clock.MostInside);
    }

    [Fact]
    public void A_long_real_conversation_renders_within_the_limits()
    {
        var messages = new JsonArray();
        for (int i = 0; i < 200; i++)
        {
            string text = $"message {i}: " + string.Concat(Enumerable.Repeat("lorem ipsum dolor sit amet ", 200));
            messages.Add(new JsonObject { ["role"] = i % 2 == 0 ? "user" : "assistant", ["content"] = text });
        }
        long conversationChars = messages.Sum(m => (long)m!["content"]!.GetValue<string>().Length);
        Assert.True(conversationChars > 1_000_000);

        var templates = RealTemplates().ToList();
        Assert.True(templates.Count >= 20, $"only {templates.Count} real templates found");
        foreach (string path in templates)
        {
            var template = ChatTemplate.Parse(File.ReadAllText(path));
            string prompt = template.Render(new ChatTemplateInput { Messages = (JsonArray)messages.DeepClone(), Clock = FixedClock.Golden }, cancellation: TestContext.Current.CancellationToken);
            Assert.True(prompt.Length > conversationChars, $"{Path.GetFileName(path)} rendered {prompt.Length} characters");
            Assert.Contains("message 199: lorem", prompt, StringComparison.Ordinal);
        }
    }

    /// <summary>The real templates (shared/templates and shared/templates/2026) that render a multi-turn chat under Jinja2.</summary>
    private static IEnumerable<string> RealTemplates() =>
        new[] { "templates", "templates/2026" }
            .SelectMany(folder => Directory.GetFiles(SharedData.Path(folder), "*.jinja")
                .Where(path => File.Exists(SharedData.Path($"{folder}/golden/{Path.GetFileNameWithoutExtension(path)}.multi_turn.txt"))))
            .Order(StringComparer.Ordinal);

    /// <summary>Renders a template that must fail, on another thread, giving up after a generous bound (a hang guard, not a timing).</summary>
    private static TemplateException FailsWithin(string template, TemplateLimits? limits = null)
    {
        var render = Task.Run(() => Render(template, limits: limits), TestContext.Current.CancellationToken);
        var watch = Stopwatch.StartNew();
        Assert.True(((IAsyncResult)render).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)), $"the render still ran after {watch.Elapsed}");
        return Assert.IsType<TemplateException>(render.Exception?.InnerException);
    }

    /// <summary>A clock whose <c>strftime_now</c> reading waits at a gate, counting how many renders wait there at once.</summary>
    private sealed class GateClock : TimeProvider, IDisposable
    {
        private readonly ManualResetEventSlim _gate = new();
        private int _inside;
        private int _mostInside;

        public int Inside => Volatile.Read(ref _inside);

        public int MostInside => Volatile.Read(ref _mostInside);

        public override DateTimeOffset GetUtcNow()
        {
            int now = Interlocked.Increment(ref _inside);
            int most;
            while ((most = Volatile.Read(ref _mostInside)) < now && Interlocked.CompareExchange(ref _mostInside, now, most) != most)
            {
            }
            _gate.Wait(TimeSpan.FromSeconds(60));
            Interlocked.Decrement(ref _inside);
            return FixedClock.Golden.GetUtcNow();
        }

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

        public bool WaitForInside(int count) => SpinWait.SpinUntil(() => Inside >= count, TimeSpan.FromSeconds(30));

        public void Open() => _gate.Set();

        public void Dispose() => _gate.Dispose();
    }
}
