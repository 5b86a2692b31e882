using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>The <c>is</c> tests, including Python's quirks: bool is a number, strings and undefined are iterable.</summary>
public sealed class TemplateTestTests
{
    [Theory]
    [InlineData("1 is odd", true)]
    [InlineData("2 is even", true)]
    [InlineData("6 is divisibleby 3", true)]
    [InlineData("6 is divisibleby(4)", false)]
    [InlineData("none is none", true)]
    [InlineData("true is number", true)]
    [InlineData("1.0 is number", true)]
    [InlineData("'1' is number", false)]
    [InlineData("1 is integer", true)]
    [InlineData("true is integer", false)]
    [InlineData("1.0 is float", true)]
    [InlineData("true is boolean", true)]
    [InlineData("1 is true", false)]
    [InlineData("false is false", true)]
    [InlineData("'a' is string", true)]
    [InlineData("{} is mapping", true)]
    [InlineData("[] is mapping", false)]
    [InlineData("'a' is iterable", true)]
    [InlineData("1 is iterable", false)]
    [InlineData("none is iterable", false)]
    [InlineData("missing is iterable", true)]
    [InlineData("'a' is sequence", true)]
    [InlineData("range is callable", true)]
    [InlineData("'ab' is lower", true)]
    [InlineData("'AB' is upper", true)]
    [InlineData("1 is in [1, 2]", true)]
    [InlineData("1 is eq 1", true)]
    [InlineData("1 is equalto 2", false)]
    [InlineData("1 is ne 2", true)]
    [InlineData("1 is lt 2", true)]
    [InlineData("2 is gt 1", true)]
    [InlineData("1 is ge 2", false)]
    [InlineData("none is sameas none", true)]
    [InlineData("'upper' is filter", true)]
    [InlineData("'odd' is test", true)]
    [InlineData("missing is defined", false)]
    [InlineData("missing is undefined", true)]
    [InlineData("1 is not none", true)]
    [InlineData("d.a is defined and d.b is not defined", true)]
    public void Tests_answer_like_jinja2(string expression, bool expected) =>
        Assert.Equal(expected ? "True" : "False", Render("{{ " + expression + " }}", """{"d": {"a": 1}}"""));

    [Fact]
    public void Unknown_tests_in_conditional_expressions_fail_only_when_used() =>
        Assert.Equal("No test named 'nope' found.", Fails("{{ (1 is nope) if true }}").Reason);
}
