using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>Template syntax errors name the line, with Jinja2's wording.</summary>
public sealed class SyntaxErrorTests
{
    [Theory]
    [InlineData("{% if x %}\nabc\n", 2, "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.")]
    [InlineData("line1\nline2 {{ 1 + }}", 2, "unexpected 'end of print statement'")]
    [InlineData("a\n\n{% endfor %}", 3, "Encountered unknown tag 'endfor'.")]
    [InlineData("{% for x in y %}\n{% endif %}", 2, "Encountered unknown tag 'endif'. Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.")]
    [InlineData("\n{% foo %}", 2, "Encountered unknown tag 'foo'.")]
    [InlineData("{{ x |\n }}", 2, "expected token 'name', got 'end of print statement'")]
    [InlineData("a\n{# never closed", 2, "Missing end of comment tag")]
    [InlineData("{% macro m(a=1, b) %}{% endmacro %}", 1, "non-default argument follows default argument")]
    [InlineData("{{ 1 ]] }}", 1, "unexpected ']'")]
    [InlineData("{% set 1 = 2 %}", 1, "can't assign to 'const'")]
    [InlineData("x\n{% raw %}never closed", 2, "Missing end of raw directive")]
    [InlineData("{{ 'abc }}", 1, "unexpected char \"'\" at 3")]
    [InlineData("a\n{{ x|nope }}", 2, "No filter named 'nope'.")]
    [InlineData("{% for x in [] %}\n{{ x is nope }}{% endfor %}", 2, "No test named 'nope'.")]
    [InlineData("x\n{% break %}", 2, "'break' outside loop")]
    [InlineData("{% for x in [1] %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", 1, "'continue' outside loop")]
    public void Syntax_errors_report_the_line(string template, int line, string reason)
    {
        var error = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template));
        Assert.True(error.IsSyntaxError);
        Assert.Equal(line, error.Line);
        Assert.Equal(reason, error.Reason);
        Assert.Contains($"line {line}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_filters_in_if_blocks_and_conditional_expressions_parse_as_in_jinja2() =>
        Assert.Equal("ok1", TemplateHarness.Render("{% if false %}{{ x|nope }}{% endif %}ok{{ (x|nope) if false else 1 }}"));

    [Fact]
    public void Runtime_errors_carry_the_line_of_the_failing_statement()
    {
        var error = Fails("a\nb\n{{ 1 + 'x' }}");
        Assert.False(error.IsSyntaxError);
        Assert.Equal(3, error.Line);
        Assert.Contains("template line 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsupported_tags_are_rejected_at_parse_time() =>
        Assert.Contains("not supported", Assert.Throws<TemplateException>(() => ChatTemplate.Parse("{% include 'x' %}")).Reason, StringComparison.Ordinal);
}
