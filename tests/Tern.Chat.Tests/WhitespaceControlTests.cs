using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>Jinja2's whitespace rules under Hugging Face's settings (trim_blocks and lstrip_blocks on).</summary>
public sealed class WhitespaceControlTests
{
    [Fact]
    public void Trim_blocks_drops_the_newline_after_a_block_tag_and_lstrip_blocks_its_indentation() =>
        Assert.Equal("a\n  b\nc", Render("a\n  {% if true %}\n  b\n  {% endif %}\nc\n"));

    [Fact]
    public void Variable_tags_keep_the_whitespace_around_them() =>
        Assert.Equal("  x\n  y", Render("  {{ 'x' }}\n  {{ 'y' }}\n"));

    [Fact]
    public void Lstrip_applies_only_when_the_tag_starts_its_line() =>
        Assert.Equal("a  b", Render("a  {% if true %}b{% endif %}"));

    [Fact]
    public void Minus_strips_all_whitespace_including_newlines_on_its_side() =>
        Assert.Equal("x:y", Render("x \n\t {{- ':' -}} \n\n y"));

    [Fact]
    public void Minus_on_block_tags_strips_both_ways() =>
        Assert.Equal("ab", Render("a\n    {%- if true -%}\n   b\n{%- endif %}"));

    [Fact]
    public void Plus_disables_lstrip_and_trim() =>
        Assert.Equal("  \nx\n", Render("  {%+ if true +%}\nx\n{% endif %}"));

    [Fact]
    public void Comments_render_nothing_and_follow_the_block_rules() =>
        Assert.Equal("a\nbc", Render("a\n  {# comment #}\nb {#- c -#} c"));

    [Fact]
    public void Raw_blocks_keep_template_syntax_as_text() =>
        Assert.Equal("{{ x }} {% if %}", Render("{% raw %}{{ x }} {% if %}{% endraw %}"));

    [Fact]
    public void Crlf_line_endings_become_newlines_and_one_trailing_newline_is_dropped() =>
        Assert.Equal("a\nb\n", Render("a\r\nb\r\n\r\n"));

    [Fact]
    public void Braces_inside_an_expression_do_not_end_the_tag() =>
        Assert.Equal("{'a': {'b': 1}} }}", Render("{{ {'a': {'b': 1}} }}{{ ' }}' }}"));

    [Fact]
    public void Loops_with_trimmed_tags_render_compactly() =>
        Assert.Equal("0,1,2", Render("{%- for i in range(3) -%}\n  {{ i }}{% if not loop.last %},{% endif %}\n{%- endfor %}\n"));
}
