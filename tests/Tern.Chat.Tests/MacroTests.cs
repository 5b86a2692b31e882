using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>Macros, call blocks, set forms, with blocks and namespaces.</summary>
public sealed class MacroTests
{
    [Fact]
    public void Macros_take_defaults_positional_and_keyword_arguments() => Assert.Equal(
        "12x|13x|12y|2x|52x",
        Render("{% macro m(a, b=2, c='x') %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(1) }}|{{ m(1, 3) }}|{{ m(1, c='y') }}|{{ m(b=2) }}|{{ m(a=5) }}"));

    [Fact]
    public void Macros_that_mention_varargs_and_kwargs_collect_extra_arguments() =>
        Assert.Equal("(1, 2){'x': 3}", Render("{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, x=3) }}"));

    [Fact]
    public void Unexpected_keyword_arguments_fail_as_in_jinja2() =>
        Assert.Equal("macro 'm' takes no keyword argument 'a'", Fails("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, a=2) }}").Reason);

    [Fact]
    public void Too_many_positional_arguments_fail() =>
        Assert.Equal("macro 'm' takes not more than 1 argument(s)", Fails("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}").Reason);

    [Fact]
    public void Call_blocks_pass_a_caller_with_arguments() =>
        Assert.Equal("[got 6]", Render("{% macro outer(x) %}[{{ caller(x * 2) }}]{% endmacro %}{% call(v) outer(3) %}got {{ v }}{% endcall %}"));

    [Fact]
    public void Macros_recurse_and_see_globals_at_call_time() =>
        Assert.Equal("54321H", Render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}" +
            "{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{% set g = 'H' %}{{ m() }}"));

    [Fact]
    public void Macro_locals_do_not_leak() =>
        Assert.Equal("", Render("{% macro m() %}{% set inner = 1 %}{% endmacro %}{{ m() }}{{ inner }}"));

    [Fact]
    public void Set_supports_tuples_blocks_and_namespace_attributes() =>
        Assert.Equal("12|  inner 2  |3", Render("{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set x %}  inner {{ 1 + 1 }}  {% endset %}{{ x }}|" +
            "{% set ns = namespace(v=1) %}{% set ns.v = 3 %}{{ ns.v }}"));

    [Fact]
    public void Assigning_an_attribute_of_a_non_namespace_fails() =>
        Assert.Equal("cannot assign attribute on non-namespace object", Fails("{% set x = {} %}{% set x.a = 1 %}").Reason);

    [Fact]
    public void With_blocks_scope_their_variables() =>
        Assert.Equal("3|", Render("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}|{{ a }}"));

    [Fact]
    public void Raise_exception_fails_with_the_templates_own_message()
    {
        var error = Fails("{{ raise_exception('Only user and assistant roles are supported!') }}");
        Assert.Equal("Only user and assistant roles are supported!", error.Message);
        Assert.True(error.RaisedByTemplate);
        Assert.Equal(1, error.Line);
    }

    [Fact]
    public void Strftime_now_formats_the_injected_clock() =>
        Assert.Equal("24 Nov 2026 09:30 Tuesday 2026-11-24", Render("{{ strftime_now('%d %b %Y %H:%M %A %Y-%m-%d') }}"));
}
