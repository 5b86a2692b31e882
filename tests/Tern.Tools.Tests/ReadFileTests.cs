using Tern.Tools;

namespace Tern.Tools.Tests;

public sealed class ReadFileTests
{
    private static string Lines(int count) => string.Concat(Enumerable.Range(1, count).Select(i => $"line {i}\n"));

    [Fact]
    public void Whole_file_is_returned_as_is()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("src/a.txt", "first\nsecond\n");

        var result = h.Call("read_file", new { path = "src/a.txt" });

        Assert.True(result.Ok);
        Assert.Equal("first\nsecond\n", result.Output);
    }

    [Fact]
    public void Line_range_is_inclusive_and_noted()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", Lines(10));

        var result = h.Call("read_file", new { path = "a.txt", start_line = 3, end_line = 4 });

        Assert.Equal("line 3\nline 4\n[lines 3-4 of 10]", result.Output);
    }

    [Fact]
    public void End_line_past_the_end_is_clamped_and_a_last_line_without_newline_counts()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "a\nb\nc");

        var result = h.Call("read_file", new { path = "a.txt", start_line = 2, end_line = 99 });

        Assert.Equal("b\nc\n[lines 2-3 of 3]", result.Output);
    }

    [Fact]
    public void Start_line_past_the_end_is_an_error_that_says_how_long_the_file_is()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", Lines(5));

        var result = h.Call("read_file", new { path = "a.txt", start_line = 6 });

        Assert.False(result.Ok);
        Assert.Equal("error: start_line 6 is past the end of 'a.txt', which has 5 lines", result.Output);
    }

    [Fact]
    public void End_before_start_and_non_positive_lines_are_errors()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", Lines(5));

        Assert.Equal("error: end_line 2 is before start_line 3", h.Call("read_file", new { path = "a.txt", start_line = 3, end_line = 2 }).Output);
        Assert.Equal("error: argument 'start_line' must be at least 1", h.Call("read_file", new { path = "a.txt", start_line = 0 }).Output);
    }

    [Fact]
    public void Output_over_the_cap_is_cut_at_a_line_with_a_note_saying_where_to_continue()
    {
        using var h = new ToolHarness(new FileToolLimits { MaxReadOutputBytes = 30 });
        h.WriteWorkspaceFile("a.txt", Lines(20)); // 7 bytes per line up to line 9

        var result = h.Call("read_file", new { path = "a.txt" });

        Assert.True(result.Ok);
        Assert.Equal("line 1\nline 2\nline 3\nline 4\n[truncated at 30 bytes: showed lines 1-4 of 20; continue with start_line=5]", result.Output);
    }

    [Fact]
    public void A_single_line_longer_than_the_cap_is_shown_in_part()
    {
        using var h = new ToolHarness(new FileToolLimits { MaxReadOutputBytes = 10 });
        h.WriteWorkspaceFile("a.txt", new string('x', 100) + "\nsecond\n");

        var result = h.Call("read_file", new { path = "a.txt" });

        Assert.StartsWith("xxxxxxxxxx\n[truncated at 10 bytes: showed lines 1-1 (only the beginning of that line) of 2", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Default_cap_is_256_KiB()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("big.txt", string.Concat(Enumerable.Repeat(new string('y', 1023) + "\n", 300)));

        var result = h.Call("read_file", new { path = "big.txt" });

        Assert.Contains("[truncated at 262144 bytes: showed lines 1-256 of 300; continue with start_line=257]", result.Output, StringComparison.Ordinal);
        Assert.True(result.Bytes < 262144 + 200);
    }

    [Fact]
    public void Binary_files_are_refused()
    {
        using var h = new ToolHarness();
        File.WriteAllBytes(h.InWorkspace("nul.bin"), [0x41, 0x00, 0x42]);
        File.WriteAllBytes(h.InWorkspace("latin1.txt"), [0x63, 0x61, 0x66, 0xE9]);

        Assert.Equal("error: 'nul.bin' is a binary file (it contains NUL bytes); read_file only works on text files", h.Call("read_file", new { path = "nul.bin" }).Output);
        Assert.Equal("error: 'latin1.txt' is not UTF-8 text (it looks like a binary file); read_file only works on text files", h.Call("read_file", new { path = "latin1.txt" }).Output);
    }

    [Fact]
    public void Directories_and_missing_files_are_refused_with_clear_messages()
    {
        using var h = new ToolHarness();
        Directory.CreateDirectory(h.InWorkspace("src"));

        Assert.Equal("error: 'src' is a directory; read_file reads files (grep searches a directory's files)", h.Call("read_file", new { path = "src" }).Output);
        Assert.Equal("error: 'nope.txt' does not exist", h.Call("read_file", new { path = "nope.txt" }).Output);
    }

    [Fact]
    public void Files_larger_than_the_read_limit_are_refused()
    {
        using var h = new ToolHarness(new FileToolLimits { MaxReadFileBytes = 100 });
        h.WriteWorkspaceFile("a.txt", new string('z', 101));

        Assert.Equal("error: 'a.txt' is 101 bytes; read_file is limited to files of 100 bytes", h.Call("read_file", new { path = "a.txt" }).Output);
    }

    [Fact]
    public void Empty_file_and_byte_order_mark()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("empty.txt", "");
        File.WriteAllBytes(h.InWorkspace("bom.txt"), [0xEF, 0xBB, 0xBF, 0x68, 0x69]);

        Assert.Equal("[empty file]", h.Call("read_file", new { path = "empty.txt" }).Output);
        Assert.Equal("hi", h.Call("read_file", new { path = "bom.txt" }).Output);
    }
}
