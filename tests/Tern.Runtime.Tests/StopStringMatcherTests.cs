using System.Text;
using Tern.Runtime.Sampling;

namespace Tern.Runtime.Tests;

public sealed class StopStringMatcherTests
{
    [Fact]
    public void A_stop_string_split_over_several_chunks_is_caught_and_never_emitted()
    {
        var matcher = new StopStringMatcher(["</end>"]);
        Assert.Equal(new StopMatch("Hello ", null), matcher.Push("Hello </"));
        Assert.Equal(new StopMatch("", null), matcher.Push("en"));
        var last = matcher.Push("d> and more");
        Assert.True(last.Stopped);
        Assert.Equal(new StopMatch("", "</end>"), last);
        Assert.Equal("</end>", matcher.Matched);
        Assert.Equal("", matcher.Flush());
    }

    [Fact]
    public void Text_before_a_stop_string_in_the_same_chunk_is_emitted()
    {
        var matcher = new StopStringMatcher(["STOP"]);
        Assert.Equal(new StopMatch("answer: 42 ", "STOP"), matcher.Push("answer: 42 STOP and after"));
    }

    [Fact]
    public void Held_back_text_is_released_once_it_can_no_longer_match()
    {
        var matcher = new StopStringMatcher(["</end>"]);
        Assert.Equal("a ", matcher.Push("a </").Text);
        Assert.Equal("</b", matcher.Push("b").Text);
        Assert.Equal("c", matcher.Push("c").Text);
    }

    [Fact]
    public void Flush_returns_the_held_back_text_at_the_end()
    {
        var matcher = new StopStringMatcher(["###"]);
        Assert.Equal("x", matcher.Push("x##").Text);
        Assert.Equal("##", matcher.Flush());
        Assert.Equal("", matcher.Flush());
    }

    [Fact]
    public void The_earliest_of_several_stop_strings_wins()
    {
        var matcher = new StopStringMatcher(["STOP", "END"]);
        Assert.Equal(new StopMatch("xx ", "END"), matcher.Push("xx END yy STOP"));
    }

    [Fact]
    public void At_the_same_position_the_longest_stop_string_is_reported()
    {
        var matcher = new StopStringMatcher(["<|", "<|im_end|>"]);
        Assert.Equal(new StopMatch("hi", "<|im_end|>"), matcher.Push("hi<|im_end|>"));
    }

    [Fact]
    public void Overlapping_prefixes_are_held_until_they_resolve()
    {
        var matcher = new StopStringMatcher(["abc", "bcd"]);
        Assert.Equal("x", matcher.Push("xab").Text); // "ab" may start "abc", and its "b" may start "bcd"
        Assert.Equal(new StopMatch("", "abc"), matcher.Push("cd"));
    }

    [Fact]
    public void A_stop_string_that_overlaps_itself_is_found_after_a_false_start()
    {
        var matcher = new StopStringMatcher(["aab"]);
        var emitted = new StringBuilder();
        StopMatch m = default;
        foreach (char c in "xaaab")
        {
            m = matcher.Push(c.ToString());
            emitted.Append(m.Text);
        }
        Assert.Equal("aab", m.StopString);
        Assert.Equal("xa", emitted.ToString());
    }

    [Fact]
    public void Every_way_of_splitting_the_text_gives_the_same_output()
    {
        const string text = "say <st<sto<stop> now";
        string[] stops = ["<stop>", "top!"];
        for (int a = 0; a <= text.Length; a++)
        {
            for (int b = a; b <= text.Length; b++)
            {
                var matcher = new StopStringMatcher(stops);
                var emitted = new StringBuilder();
                bool stopped = false;
                foreach (string chunk in new[] { text[..a], text[a..b], text[b..] })
                {
                    var m = matcher.Push(chunk);
                    emitted.Append(m.Text);
                    if (stopped = m.Stopped)
                        break;
                }
                Assert.True(stopped, $"split at {a},{b}");
                Assert.Equal("say <st<sto", emitted.ToString());
            }
        }
    }

    [Fact]
    public void Without_a_match_all_text_comes_out_after_flush()
    {
        var matcher = new StopStringMatcher(["\n\nUser:"]);
        var emitted = new StringBuilder();
        foreach (string chunk in new[] { "one\n", "\nUs", "e", "d to", "\n\nUser" })
            emitted.Append(matcher.Push(chunk).Text);
        emitted.Append(matcher.Flush());
        Assert.Equal("one\n\nUsed to\n\nUser", emitted.ToString());
    }

    [Fact]
    public void No_stop_strings_pass_text_straight_through()
    {
        var matcher = new StopStringMatcher(["", ""]);
        Assert.Empty(matcher.StopStrings);
        Assert.Equal(new StopMatch("<|", null), matcher.Push("<|"));
    }

    [Fact]
    public void Pushing_after_a_match_throws()
    {
        var matcher = new StopStringMatcher(["x"]);
        Assert.True(matcher.Push("x").Stopped);
        Assert.Throws<InvalidOperationException>(() => matcher.Push("y"));
    }
}
