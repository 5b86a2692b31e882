using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>For loops: the loop variable, else, inline filters, unpacking, loop controls, recursion and scoping.</summary>
public sealed class LoopTests
{
    [Fact]
    public void Loop_variable_exposes_position_and_length() => Assert.Equal(
        "1 0 3 2 True False 3|2 1 2 1 False False 3|3 2 1 0 False True 3|",
        Render("{% for x in items %}{{ loop.index }} {{ loop.index0 }} {{ loop.revindex }} {{ loop.revindex0 }} {{ loop.first }} {{ loop.last }} {{ loop.length }}|{% endfor %}",
            """{"items": ["a", "b", "c"]}"""));

    [Fact]
    public void Previtem_and_nextitem_are_undefined_at_the_ends() =>
        Assert.Equal("-b;a-c;b-;", Render("{% for x in ['a', 'b', 'c'] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}"));

    [Fact]
    public void Cycle_changed_and_depth_work() =>
        Assert.Equal("aC1b1aC1", Render("{% for x in [1, 1, 2] %}{{ loop.cycle('a', 'b') }}{% if loop.changed(x) %}C{% endif %}{{ loop.depth }}{% endfor %}"));

    [Fact]
    public void Dict_items_unpack_into_two_names_in_key_order() =>
        Assert.Equal("b=1;a=2;", Render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", """{"d": {"b": 1, "a": 2}}"""));

    [Fact]
    public void Iterating_a_dict_yields_its_keys() =>
        Assert.Equal("ba", Render("{% for k in d %}{{ k }}{% endfor %}", """{"d": {"b": 1, "a": 2}}"""));

    [Fact]
    public void Unpacking_the_wrong_number_of_values_fails() =>
        Assert.Equal("too many values to unpack (expected 2)", Fails("{% for a, b in [(1, 2, 3)] %}{% endfor %}").Reason);

    [Fact]
    public void Inline_if_filters_before_counting() =>
        Assert.Equal("212|322|", Render("{% for x in [1, 2, 3] if x > 1 %}{{ x }}{{ loop.index }}{{ loop.length }}|{% endfor %}"));

    [Fact]
    public void Else_runs_when_nothing_was_iterated() =>
        Assert.Equal("empty|none", Render("{% for x in [] %}a{% else %}empty{% endfor %}|{% for x in [1] if false %}a{% else %}none{% endfor %}"));

    [Fact]
    public void Break_and_continue_control_the_loop() =>
        Assert.Equal("012|024", Render("{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}{{ x }}{% endfor %}|" +
            "{% for x in range(5) %}{% if x is odd %}{% continue %}{% endif %}{{ x }}{% endfor %}"));

    [Fact]
    public void Strings_iterate_by_code_point() =>
        Assert.Equal("[a][🙂]", Render("{% for c in 'a🙂' %}[{{ c }}]{% endfor %}"));

    [Fact]
    public void Assignments_inside_a_loop_do_not_leak_but_namespaces_do() =>
        Assert.Equal("222 1 4", Render("{% set x = 1 %}{% set ns = namespace(n=1) %}{% for i in range(3) %}{% set x = x + 1 %}{{ x }}" +
            "{% set ns.n = ns.n + 1 %}{% endfor %} {{ x }} {{ ns.n }}"));

    [Fact]
    public void Assignments_inside_if_blocks_are_visible_after_them() =>
        Assert.Equal("5", Render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"));

    [Fact]
    public void Recursive_loops_call_loop_with_the_children() =>
        Assert.Equal("a(b(c3)2)1d1", Render(
            "{% for item in tree recursive %}{{ item.n }}{% if item.c %}({{ loop(item.c) }}){% endif %}{{ loop.depth }}{% endfor %}",
            """{"tree": [{"n": "a", "c": [{"n": "b", "c": [{"n": "c"}]}]}, {"n": "d"}]}"""));

    [Fact]
    public void Nested_loops_each_have_their_own_loop_variable() =>
        Assert.Equal("1a 2a 1|1b 2b 2|", Render("{% for x in 'ab' %}{% for y in [3, 4] %}{{ loop.index }}{{ x }} {% endfor %}{{ loop.index }}|{% endfor %}"));
}
