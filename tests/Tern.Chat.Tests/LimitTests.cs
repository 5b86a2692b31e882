using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>The sandbox's bounds: every way a template could run long or grow large ends in a TemplateException.</summary>
public sealed class LimitTests
{
    [Fact]
    public void A_loop_over_a_billion_items_hits_the_step_limit() =>
        Assert.Contains("evaluation steps", Fails("{% for i in range(10**9) %}{{ '' }}{% endfor %}").Reason, StringComparison.Ordinal);

    [Theory]
    [InlineData("range(10**9)|list")]
    [InlineData("range(10**9)|sort")]
    [InlineData("[].extend(range(10**9))")]
    public void Materializing_a_huge_range_fails_before_allocating(string expression) =>
        Assert.Contains("built lists", Fails("{{ (" + expression + ")|length }}").Reason, StringComparison.Ordinal);

    [Fact]
    public void Huge_output_hits_the_output_limit() =>
        Assert.Contains("output exceeded", Fails("{% for i in range(10**6) %}{{ 'x' * 100 }}{% endfor %}").Reason, StringComparison.Ordinal);

    [Fact]
    public void Output_limit_counts_captured_macro_output_too() =>
        Assert.Contains("output exceeded", Fails("{% macro m() %}{{ 'x' * 600 }}{% endmacro %}{% set s = m() %}{% set t = m() %}",
            limits: new TemplateLimits { MaxOutputChars = 1000 }).Reason, StringComparison.Ordinal);

    [Fact]
    public void Doubling_a_string_hits_the_string_limit() =>
        Assert.Contains("built strings", Fails("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}").Reason,
            StringComparison.Ordinal);

    [Fact]
    public void Repeating_a_string_a_billion_times_fails_before_allocating() =>
        Assert.Contains("built strings", Fails("{{ ('x' * 10**9)|length }}").Reason, StringComparison.Ordinal);

    [Theory]
    [InlineData("'x'|center(10**9)")]
    [InlineData("'{:>1000000000}'.format('x')")]
    [InlineData("'%1000000000s' % 'x'")]
    [InlineData("('a' * 1000)|replace('a', 'b' * 100000)")]
    [InlineData("(['x' * 1000000] * 100)|tojson")]
    [InlineData("['x' * 1000000] * 100")]
    [InlineData("('a\n' * 1000000)|indent(4000)")]
    public void Single_operations_that_would_build_huge_strings_fail_before_allocating(string expression) =>
        Assert.IsType<TemplateException>(Record.Exception(() => Render("{{ " + expression + " }}")));

    [Fact]
    public void Unbounded_macro_recursion_hits_the_depth_limit() =>
        Assert.Contains("recursion depth", Fails("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").Reason, StringComparison.Ordinal);

    [Fact]
    public void Deeply_nested_parentheses_are_a_syntax_error_not_a_crash()
    {
        var error = Fails("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}");
        Assert.True(error.IsSyntaxError);
    }

    [Fact]
    public void A_very_long_operator_chain_fails_cleanly_instead_of_overflowing_the_stack()
    {
        string chain = string.Join(" + ", Enumerable.Repeat("1", 200_000));
        Assert.Contains("too deep", Fails("{{ " + chain + " }}").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Limits_within_bounds_do_not_interfere() =>
        Assert.Equal(new string('x', 1000), Render("{% for i in range(1000) %}x{% endfor %}", limits: new TemplateLimits { MaxSteps = 5000, MaxOutputChars = 1000 }));
}
