using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>Built-in filters, with expected output taken from Python's Jinja2.</summary>
public sealed class FilterTests
{
    private const string Users = """
        {"users": [{"name": "b", "age": 3, "tags": ["x"]}, {"name": "A", "age": 1}, {"name": "c", "age": 3, "active": true}]}
        """;

    [Theory]
    [InlineData("'  a  '|trim ~ '|' ~ 'xxaxx'|trim('x')", "a|a")]
    [InlineData("'abc'|upper ~ 'ABC'|lower", "ABCabc")]
    [InlineData("'hello big-world(x)'|title", "Hello Big-World(X)")]
    [InlineData("'hELLO'|capitalize", "Hello")]
    [InlineData("'a-b-c'|replace('-', '+') ~ 'aaa'|replace('a', 'b', 2)", "a+b+cbba")]
    [InlineData("[1, 2, 3]|join(',') ~ [1, 2]|join", "1,2,312")]
    [InlineData("users|join(', ', attribute='name')", "b, A, c")]
    [InlineData("[3, 1, 2]|first ~ [3, 1, 2]|last ~ 'abc'|first", "32a")]
    [InlineData("[]|first is defined", "False")]
    [InlineData("[3, 1, 2]|length ~ 'abc'|count ~ {'a': 1}|length", "331")]
    [InlineData("['b', 'A', 'c']|sort", "['A', 'b', 'c']")]
    [InlineData("['b', 'A', 'c']|sort(case_sensitive=true)", "['A', 'b', 'c']")]
    [InlineData("[3, 1, 2]|sort(reverse=true)", "[3, 2, 1]")]
    [InlineData("users|sort(attribute='age,name')|map(attribute='name')|join", "Abc")]
    [InlineData("['a', 'A', 'b', 'a']|unique|list", "['a', 'b']")]
    [InlineData("[1, 2, 3]|reverse|list ~ 'abc'|reverse", "[3, 2, 1]cba")]
    [InlineData("users|map(attribute='name')|list", "['b', 'A', 'c']")]
    [InlineData("users|map(attribute='active', default=false)|list", "[False, False, True]")]
    [InlineData("users|map(attribute='tags.0', default='-')|list", "['x', '-', '-']")]
    [InlineData("['a', 'b']|map('upper')|list", "['A', 'B']")]
    [InlineData("[1, 2, 3, 4]|select('odd')|list ~ [1, 2, 3, 4]|reject('odd')|list", "[1, 3][2, 4]")]
    [InlineData("[0, 1, '', 2]|select|list", "[1, 2]")]
    [InlineData("users|selectattr('active')|map(attribute='name')|list", "['c']")]
    [InlineData("users|rejectattr('active')|map(attribute='name')|list", "['b', 'A']")]
    [InlineData("users|selectattr('age', 'equalto', 3)|map(attribute='name')|join", "bc")]
    [InlineData("users|selectattr('tags', 'defined')|list|length", "1")]
    [InlineData("none|selectattr('x')|list", "[]")]
    [InlineData("{'b': 2, 'a': 1}|dictsort", "[('a', 1), ('b', 2)]")]
    [InlineData("{'b': 2, 'a': 1}|dictsort(by='value', reverse=true)", "[('b', 2), ('a', 1)]")]
    [InlineData("{'b': 2, 'a': 1}|items|list", "[('b', 2), ('a', 1)]")]
    [InlineData("'42'|int + '42.7'|int + 'x'|int + 'x'|int(5) + 3.9|int + 'ff'|int(base=16)", "347")]
    [InlineData("'3.5'|float ~ 'x'|float ~ 3|float", "3.50.03.0")]
    [InlineData("42|string ~ none|string", "42None")]
    [InlineData("'abc'|list ~ {'a': 1}|list", "['a', 'b', 'c']['a']")]
    [InlineData("-3|abs ~ 2.5|round ~ 3.5|round ~ 2.567|round(2) ~ 2.5|round(method='floor')", "32.04.02.572.0")]
    [InlineData("'a\\nb'|indent(2, true) ~ '|' ~ 'a\\n\\nb'|indent(2)", "  a\n  b|a\n\n  b")]
    [InlineData("'one two  three'|wordcount", "3")]
    [InlineData("'hello world foo bar'|truncate(9) ~ '|' ~ 'hello world foo bar'|truncate(9, true)", "hello...|hello ...")]
    [InlineData("'%s=%s'|format('a', 1)", "a=1")]
    [InlineData("[1, 2, 3]|sum ~ users|sum(attribute='age') ~ [3, 1, 2]|max ~ [3, 1, 2]|min", "6731")]
    [InlineData("'<a & \"b\">'|e", "&lt;a &amp; &#34;b&#34;&gt;")]
    [InlineData("'x'|center(5) ~ '|'", "  x  |")]
    [InlineData("[1, 2, 3]|batch(2)|list", "[[1, 2], [3]]")]
    [InlineData("[1, 2]|pprint", "[1, 2]")]
    [InlineData("missing|d('a') ~ ''|d('e', true) ~ none|default('n')", "aeNone")]
    public void Filters_render_like_jinja2(string expression, string expected) =>
        Assert.Equal(expected, Render("{{ " + expression + " }}", Users));

    [Fact]
    public void Generators_are_used_once_like_pythons() =>
        Assert.Equal("[1][]", Render("{% set m = [1]|map('int') %}{{ m|list }}{{ m|list }}"));

    [Fact]
    public void Unknown_filters_in_if_blocks_fail_only_when_used() =>
        Assert.Equal("No filter named 'nope' found.", Fails("{% if true %}{{ 1|nope }}{% endif %}").Reason);

    [Fact]
    public void Filter_blocks_and_block_sets_apply_filters_to_their_body() =>
        Assert.Equal("AB D|X", Render("{% filter trim|upper %}  ab {{ 'd' }} {% endfilter %}|{% set x | upper %}x{% endset %}{{ x }}"));
}
