using Tern.Runtime.Grammar;
using GrammarRules = Tern.Runtime.Grammar.Grammar;

namespace Tern.Runtime.Tests.Grammar;

public sealed class GbnfParserTests
{
    private static bool Matches(string gbnf, string text) => GrammarMatcher.Matches(GrammarRules.Parse(gbnf), text);

    [Theory]
    [InlineData("root ::= \"abc\"", "abc", true)]
    [InlineData("root ::= \"abc\"", "ab", false)]
    [InlineData("root ::= \"abc\"", "abcd", false)]
    [InlineData("root ::= \"a\" | \"b\"", "b", true)]
    [InlineData("root ::= (\"a\" | \"b\") \"c\"", "bc", true)]
    [InlineData("root ::= [a-c]+", "abccba", true)]
    [InlineData("root ::= [a-c]+", "", false)]
    [InlineData("root ::= [a-c]+", "abd", false)]
    [InlineData("root ::= [^a-c]*", "xyz", true)]
    [InlineData("root ::= [^a-c]*", "xaz", false)]
    [InlineData("root ::= \"x\"?", "", true)]
    [InlineData("root ::= \"x\"?", "xx", false)]
    [InlineData("root ::= \"ab\"{2,3}", "abab", true)]
    [InlineData("root ::= \"ab\"{2,3}", "ababab", true)]
    [InlineData("root ::= \"ab\"{2,3}", "ab", false)]
    [InlineData("root ::= \"ab\"{2,3}", "abababab", false)]
    [InlineData("root ::= \"a\"{2,}", "aaaaa", true)]
    [InlineData("root ::= \"a\"{2,}", "a", false)]
    [InlineData("root ::= \"a\"{3}", "aaa", true)]
    [InlineData("root ::= \"a\"{3}", "aaaa", false)]
    [InlineData("root ::= . .", "é€", true)]
    [InlineData("root ::= . .", "😀!", true)]
    [InlineData("root ::= \"\\x41\\u00e9\\U0001F600\\n\\t\\\\\\\"\"", "Aé😀\n\t\\\"", true)]
    [InlineData("root ::= [\\x00-\\x1F\\]\\-]+", "\u0001]-", true)]
    [InlineData("root ::= [\\x00-\\x1F\\]\\-]+", "a", false)]
    [InlineData("# comment\nroot ::= item+ # trailing\nitem ::= \"i\"\n", "iii", true)]
    [InlineData("root ::= ( \"a\"\n  | \"b\" )\n", "b", true)]
    [InlineData("root ::= \"(\" root \")\" | \"\"", "((()))", true)]
    [InlineData("root ::= \"(\" root \")\" | \"\"", "(()", false)]
    [InlineData("root ::= ws \"x\"\nws ::= [ ]*", "   x", true)]
    public void Accepts_and_rejects_strings(string gbnf, string text, bool expected) => Assert.Equal(expected, Matches(gbnf, text));

    [Theory]
    [InlineData("root ::= \"abc", "line 1, column 14", "unterminated literal")]
    [InlineData("root ::= [abc", "line 1", "unterminated character class")]
    [InlineData("root ::= item", "line 1, column 10", "'item' is used but never defined")]
    [InlineData("start ::= \"a\"", null, "no 'root' rule")]
    [InlineData("root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1", "defined twice")]
    [InlineData("root \"a\"", "line 1, column 6", "expected '::='")]
    [InlineData("root ::= (\"a\"", "line 1", "expected ')'")]
    [InlineData("root ::= *", "line 1, column 10", "nothing before it to repeat")]
    [InlineData("root ::= \"a\"{3,2}", "line 1", "maximum below its minimum")]
    [InlineData("root ::= \"a\"{99999}", "line 1", "limited to 10000")]
    [InlineData("root ::= \"\\q\"", "line 1, column 11", "unknown escape")]
    [InlineData("root ::= [z-a]", "line 1", "out of order")]
    [InlineData("root ::= <[12]>", "line 1", "token references")]
    [InlineData("root ::= \"a\" )", "line 1, column 14", "unexpected ')'")]
    public void Errors_name_the_line_and_column(string gbnf, string? where, string what)
    {
        var e = Assert.Throws<GrammarException>(() => GrammarRules.Parse(gbnf));
        Assert.Contains(what, e.Message);
        if (where is not null)
            Assert.Contains(where, e.Message);
    }

    [Theory]
    [InlineData("root ::= root \"a\" | \"a\"", "root")]
    [InlineData("root ::= expr\nexpr ::= term | expr \"+\" term\nterm ::= [0-9]", "expr")]
    [InlineData("root ::= a\na ::= b* a \"x\" | \"y\"\nb ::= \"b\"", "a")]
    [InlineData("root ::= (root)? \"x\"", "root")]
    public void Left_recursion_is_refused_naming_the_rule(string gbnf, string rule)
    {
        var e = Assert.Throws<GrammarException>(() => GrammarRules.Parse(gbnf));
        Assert.Contains($"rule '{rule}' is left-recursive", e.Message);
    }

    [Fact]
    public void Right_recursion_keeps_the_stack_flat()
    {
        var g = GrammarRules.Parse("root ::= \"a\" root | \"\"");
        var m = new GrammarMatcher(g);
        Assert.True(m.Accept(new string('a', 20_000)));
        Assert.True(m.IsComplete);
    }

    [Fact]
    public void Nesting_deeper_than_the_bound_is_refused_not_crashed()
    {
        var g = GrammarRules.Parse("root ::= \"(\" root \")\" | \"x\"");
        var m = new GrammarMatcher(g);
        Assert.True(m.Accept(new string('(', 500)));
        Assert.False(m.Accept(new string('(', 2000))); // past the depth bound: no stack survives
        Assert.True(m.Accept("x" + new string(')', 500)));
        Assert.True(m.IsComplete);
    }

    [Fact]
    public void Exponentially_ambiguous_grammar_is_bounded()
    {
        // 40 rules, each two identical alternatives of the next: 2^40 expansion paths to one stack
        var lines = Enumerable.Range(0, 40).Select(i => $"r{i} ::= r{i + 1} | r{i + 1}").Append("r40 ::= \"a\"");
        var g = GrammarRules.Parse("root ::= r0\n" + string.Join("\n", lines));
        var e = Assert.Throws<GrammarException>(() => new GrammarMatcher(g));
        Assert.Contains("too ambiguous", e.Message);
    }

    [Fact]
    public void Grammar_too_large_after_expansion_is_refused()
    {
        // a repeated literal is copied in place: 2000 characters x 1000
        var e = Assert.Throws<GrammarException>(() => GrammarRules.Parse($"root ::= \"{new string('a', 2000)}\"{{1000}}"));
        Assert.Contains("too large", e.Message);
    }

    [Fact]
    public void Long_chain_of_rules_is_refused()
    {
        var lines = Enumerable.Range(0, 1500).Select(i => $"r{i} ::= r{i + 1}").Append("r1500 ::= \"a\"");
        var e = Assert.Throws<GrammarException>(() => GrammarRules.Parse("root ::= r0\n" + string.Join("\n", lines)));
        Assert.Contains("more than 1000 rules", e.Message);
    }

    [Fact]
    public void Utf8_split_between_calls_is_joined()
    {
        var g = GrammarRules.Parse("root ::= \"é\" [€]");
        var m = new GrammarMatcher(g);
        var bytes = System.Text.Encoding.UTF8.GetBytes("é€");
        foreach (byte b in bytes)
            Assert.True(m.Accept([b]));
        Assert.True(m.IsComplete);
        Assert.False(new GrammarMatcher(g).Accept([0xC3, 0xC3])); // not UTF-8
        Assert.False(new GrammarMatcher(g).Accept([0xE2])); // begins a character no stack can take
    }

    [Fact]
    public void Refused_text_leaves_the_state_unchanged()
    {
        var m = new GrammarMatcher(GrammarRules.Parse("root ::= \"ab\" \"c\"?"));
        Assert.True(m.Accept("a"));
        Assert.False(m.Accept("x"));
        Assert.True(m.Accept("b"));
        Assert.True(m.IsComplete);
        Assert.True(m.CanContinue);
        Assert.True(m.Accept("c"));
        Assert.False(m.CanContinue);
    }
}
