using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>Literals, operators and how values print, each checked against what Python's Jinja2 renders.</summary>
public sealed class ExpressionTests
{
    [Theory]
    [InlineData("1.0", "1.0")]
    [InlineData("1.5e3", "1500.0")]
    [InlineData("1e16", "1e+16")]
    [InlineData("1e-5", "1e-05")]
    [InlineData("0.1 + 0.2", "0.30000000000000004")]
    [InlineData("10 / 4", "2.5")]
    [InlineData("4 / 2", "2.0")]
    [InlineData("-7 // 2", "-4")]
    [InlineData("-7 % 3", "2")]
    [InlineData("2 ** 10", "1024")]
    [InlineData("2 ** 3 ** 2", "64")]
    [InlineData("0x1F + 0b1 + 1_000", "1032")]
    [InlineData("none", "None")]
    [InlineData("True and false", "False")]
    [InlineData("[1, 'a', none, true, 1.0]", "[1, 'a', None, True, 1.0]")]
    [InlineData("('a',)", "('a',)")]
    [InlineData("{'a': 1, 'b': [2]}", "{'a': 1, 'b': [2]}")]
    [InlineData("[\"it's\", 'say \"x\"', 'a\\nb']", "[\"it's\", 'say \"x\"', 'a\\nb']")]
    [InlineData("'\\x41\\u00e9\\U0001F642\\t|'", "Aé🙂\t|")]
    [InlineData("'a' 'b'", "ab")]
    [InlineData("'a' ~ 1 ~ none ~ [1]", "a1None[1]")]
    [InlineData("'ab' * 3", "ababab")]
    [InlineData("[1] * 2 + [3]", "[1, 1, 3]")]
    [InlineData("1 == 1.0 and true == 1", "True")]
    [InlineData("1 < 2 < 3", "True")]
    [InlineData("[1, 2] < [1, 3]", "True")]
    [InlineData("(1, 2) == [1, 2]", "False")]
    [InlineData("'b' in 'abc' and 2 in [1, 2] and 'k' in {'k': 0} and 'z' not in 'abc'", "True")]
    [InlineData("0 or 'x'", "x")]
    [InlineData("'' and 1", "")]
    [InlineData("'y' if false else 'n'", "n")]
    [InlineData("'y' if false", "")]
    [InlineData("[1, 2, 3, 4][1:3]", "[2, 3]")]
    [InlineData("'hello'[::-1]", "olleh")]
    [InlineData("'🙂ab'[1:] ~ ('🙂ab'|length)", "ab3")]
    [InlineData("[1, 2, 3][-1]", "3")]
    [InlineData("range(1, 10, 3)|list", "[1, 4, 7]")]
    public void Expressions_evaluate_and_print_like_python(string expression, string expected) =>
        Assert.Equal(expected, Render("{{ " + expression + " }}"));

    [Theory]
    [InlineData("missing", "")]
    [InlineData("missing is defined", "False")]
    [InlineData("missing|default('d')", "d")]
    [InlineData("missing|length", "0")]
    [InlineData("missing|list", "[]")]
    [InlineData("d.nope is undefined", "True")]
    [InlineData("d['nope'] is defined", "False")]
    [InlineData("[1][5] is defined", "False")]
    [InlineData("missing ~ 'x'", "x")]
    [InlineData("'x' in missing", "False")]
    public void Undefined_values_print_empty_and_are_falsy(string expression, string expected) =>
        Assert.Equal(expected, Render("{{ " + expression + " }}", """{"d": {"a": 1}}"""));

    [Fact]
    public void Iterating_undefined_runs_the_else_branch() =>
        Assert.Equal("empty", Render("{% for x in missing %}x{% else %}empty{% endfor %}"));

    [Theory]
    [InlineData("missing + 'x'", "'missing' is undefined")]
    [InlineData("d.nope + 'x'", "'dict object' has no attribute 'nope'")]
    [InlineData("missing.attr", "'missing' is undefined")]
    [InlineData("[][0].role", "list object has no element 0")]
    [InlineData("'a' + 1", "can only concatenate str (not \"int\") to str")]
    [InlineData("'a' + {}", "can only concatenate str (not \"dict\") to str")]
    [InlineData("1 + 'a'", "unsupported operand type(s) for +: 'int' and 'str'")]
    [InlineData("'a' < 1", "'<' not supported between instances of 'str' and 'int'")]
    [InlineData("1 / 0", "division by zero")]
    [InlineData("1 in none", "argument of type 'NoneType' is not iterable")]
    [InlineData("none|length", "object of type 'NoneType' has no len()")]
    [InlineData("[1]|map('upper')|tojson", "Object of type generator is not JSON serializable")]
    [InlineData("missing()", "'missing' is undefined")]
    [InlineData("'s'()", "'str' object is not callable")]
    public void Invalid_operations_raise_with_pythons_message(string expression, string expected) =>
        Assert.Equal(expected, Fails("{{ " + expression + " }}", """{"d": {"a": 1}}""").Reason);

    [Fact]
    public void Iterating_none_raises_like_python() =>
        Assert.Equal("'NoneType' object is not iterable", Fails("{% for x in none %}{% endfor %}").Reason);

    [Fact]
    public void Dict_attribute_lookup_prefers_methods_and_subscript_prefers_keys() =>
        Assert.Equal("True|1", Render("{{ d.items is callable }}|{{ d['items'] }}", """{"d": {"items": 1}}"""));

    [Theory]
    [InlineData("'  x  '.strip() ~ '|' ~ 'xxaxx'.strip('x') ~ '|' ~ 'x\\n\\n'.rstrip('\\n')", "x|a|x")]
    [InlineData("'a,b,,c'.split(',')", "['a', 'b', '', 'c']")]
    [InlineData("' a  b '.split()", "['a', 'b']")]
    [InlineData("'a b c'.rsplit(' ', 1)", "['a b', 'c']")]
    [InlineData("'abc'.startswith(('x', 'a')) and 'abc'.endswith('bc')", "True")]
    [InlineData("\"they're bill's\".title()", "They'Re Bill'S")]
    [InlineData("'abcabc'.find('c') ~ 'abc'.find('z') ~ 'aaa'.count('a')", "2-13")]
    [InlineData("'-'.join(['a', 'b'])", "a-b")]
    [InlineData("'{} {x}'.format(1, x='y')", "1 y")]
    [InlineData("'%s=%05.1f' % ('v', 3.14159)", "v=003.1")]
    [InlineData("d.get('a') ~ d.get('z') ~ d.get('z', 0)", "1None0")]
    [InlineData("d.items()|list", "[('a', 1)]")]
    [InlineData("d.keys()|list ~ d.values()|list", "['a'][1]")]
    public void Python_methods_work_on_strings_lists_and_dicts(string expression, string expected) =>
        Assert.Equal(expected, Render("{{ " + expression + " }}", """{"d": {"a": 1}}"""));

    [Fact]
    public void List_append_mutates_the_list() =>
        Assert.Equal("[1, 2]", Render("{% set l = [1] %}{% set _ = l.append(2) %}{{ l }}"));

    [Fact]
    public void Markup_from_safe_escapes_plain_strings_added_to_it() =>
        Assert.Equal("<b>&lt;i&gt;|<b><i>", Render("{{ '<b>'|safe + '<i>' }}|{{ '<b>'|safe ~ '<i>' }}"));

    [Fact]
    public void Json_numbers_keep_the_int_float_distinction() =>
        Assert.Equal("1 1.0 2.5 [1, 2.0]", Render("{{ a }} {{ b }} {{ c }} {{ d }}", """{"a": 1, "b": 1.0, "c": 2.5, "d": [1, 2.0]}"""));
}
