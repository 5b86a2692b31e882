using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>The .gitignore subset file_glob_search honours, rule by rule, as git decides.</summary>
public sealed class GitIgnoreTests
{
    private static bool? Decide(string rules, string path, bool isDirectory = false) => GitIgnore.Parse(rules).Decide(path, isDirectory);

    [Theory]
    [InlineData("*.log", "a.log", true)]
    [InlineData("*.log", "deep/er/a.log", true)]
    [InlineData("*.log", "a.log.txt", null)]
    [InlineData("build", "build", true)]
    [InlineData("build", "src/build", true)]
    [InlineData("a?c", "abc", true)]
    [InlineData("a?c", "a/c", null)]
    [InlineData("*.[oa]", "lib.a", true)]
    [InlineData("*.[oa]", "lib.c", null)]
    [InlineData("file[0-9]", "file7", true)]
    [InlineData("file[!0-9]", "file7", null)]
    [InlineData("file[!0-9]", "filex", true)]
    public void Unanchored_patterns_match_a_name_at_any_depth(string rules, string path, bool? expected) =>
        Assert.Equal(expected, Decide(rules, path));

    [Theory]
    [InlineData("/todo.txt", "todo.txt", true)]
    [InlineData("/todo.txt", "sub/todo.txt", null)]
    [InlineData("doc/*.txt", "doc/a.txt", true)]
    [InlineData("doc/*.txt", "doc/sub/a.txt", null)]
    [InlineData("doc/*.txt", "x/doc/a.txt", null)]
    [InlineData("**/foo", "foo", true)]
    [InlineData("**/foo", "a/b/foo", true)]
    [InlineData("abc/**", "abc/x/y", true)]
    [InlineData("abc/**", "abc", null)]
    [InlineData("a/**/b", "a/b", true)]
    [InlineData("a/**/b", "a/x/y/b", true)]
    [InlineData("a/**/b", "a/x/c", null)]
    public void A_slash_anchors_the_pattern_and_double_stars_span_directories(string rules, string path, bool? expected) =>
        Assert.Equal(expected, Decide(rules, path));

    [Fact]
    public void A_trailing_slash_matches_directories_only()
    {
        Assert.True(Decide("out/", "out", isDirectory: true));
        Assert.Null(Decide("out/", "out", isDirectory: false));
        Assert.True(Decide("out/", "src/out", isDirectory: true));
    }

    [Fact]
    public void Negation_re_includes_and_the_last_matching_rule_wins()
    {
        const string rules = "*.log\n!keep.log\n";

        Assert.True(Decide(rules, "a.log"));
        Assert.False(Decide(rules, "keep.log"));
        Assert.True(Decide("!keep.log\n*.log\n", "keep.log"));
    }

    [Fact]
    public void Blank_lines_comments_and_escapes()
    {
        const string rules = "\n# a comment\n   \n\\#hash\n\\!bang\ntrailing\\ \nspaces   \r\n";

        Assert.Null(Decide(rules, "# a comment"));
        Assert.True(Decide(rules, "#hash"));
        Assert.True(Decide(rules, "!bang"));
        Assert.True(Decide(rules, "trailing "));
        Assert.True(Decide(rules, "spaces"));
        Assert.Null(Decide(rules, "spaces   "));
    }

    [Fact]
    public void Invalid_lines_are_skipped_and_the_rest_still_apply()
    {
        const string rules = "[unclosed\n!\n/\n*.tmp\n";

        Assert.Null(Decide(rules, "[unclosed"));
        Assert.True(Decide(rules, "x.tmp"));
    }

    [Fact]
    public void Pathological_patterns_match_in_linear_time()
    {
        string rules = string.Concat(Enumerable.Repeat("**/a*", 200)) + "b\n" + string.Concat(Enumerable.Repeat("*a", 500)) + "b\n";
        string path = string.Join('/', Enumerable.Repeat(new string('a', 200), 20));

        Assert.Null(Decide(rules, path));
    }
}
