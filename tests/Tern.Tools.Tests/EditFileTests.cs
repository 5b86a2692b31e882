using Tern.Tools;

namespace Tern.Tools.Tests;

public sealed class EditFileTests
{
    private const string Program = "using System;\n\nclass P\n{\n    static void Main()\n    {\n        Console.WriteLine(\"hi\");\n    }\n}\n";

    [Fact]
    public void Replaces_the_unique_occurrence_and_returns_a_unified_diff()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("P.cs", Program);

        var result = h.Call("edit_file", new { path = "P.cs", old_text = "Console.WriteLine(\"hi\");", new_text = "Console.WriteLine(\"hello\");\n        return;" });

        Assert.True(result.Ok, result.Output);
        Assert.Equal(Program.Replace("Console.WriteLine(\"hi\");", "Console.WriteLine(\"hello\");\n        return;", StringComparison.Ordinal), File.ReadAllText(h.InWorkspace("P.cs")));
        Assert.Equal(
            "edited P.cs: replaced 1 occurrence at line 7\n" +
            "--- a/P.cs\n" +
            "+++ b/P.cs\n" +
            "@@ -5,5 +5,6 @@\n" +
            "     static void Main()\n" +
            "     {\n" +
            "-        Console.WriteLine(\"hi\");\n" +
            "+        Console.WriteLine(\"hello\");\n" +
            "+        return;\n" +
            "     }\n" +
            " }\n",
            result.Output);
    }

    [Fact]
    public void Deleting_lines_at_the_start_of_the_file()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "one\ntwo\nthree\n");

        var result = h.Call("edit_file", new { path = "a.txt", old_text = "one\n", new_text = "" });

        Assert.Equal("two\nthree\n", File.ReadAllText(h.InWorkspace("a.txt")));
        Assert.EndsWith("@@ -1,3 +1,2 @@\n-one\n two\n three\n", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_that_occurs_several_times_is_refused_with_the_count_and_lines()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "x = 1\ny = 2\nx = 1\nx = 1\n");

        var result = h.Call("edit_file", new { path = "a.txt", old_text = "x = 1", new_text = "x = 3" });

        Assert.Equal("error: old_text occurs 3 times in 'a.txt' (at lines 1, 3, 4); include more surrounding text so that it occurs exactly once", result.Output);
        Assert.Equal("x = 1\ny = 2\nx = 1\nx = 1\n", File.ReadAllText(h.InWorkspace("a.txt")));
    }

    [Fact]
    public void Overlapping_occurrences_count()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "aaa");

        Assert.StartsWith("error: old_text occurs 2 times", h.Call("edit_file", new { path = "a.txt", old_text = "aa", new_text = "b" }).Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_that_does_not_occur_is_refused()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "hello\n");

        var result = h.Call("edit_file", new { path = "a.txt", old_text = "Hello", new_text = "bye" });

        Assert.StartsWith("error: old_text was not found in 'a.txt'; it must match exactly", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_or_identical_text_and_missing_files_are_refused()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "hello\n");

        Assert.StartsWith("error: old_text is empty", h.Call("edit_file", new { path = "a.txt", old_text = "", new_text = "x" }).Output, StringComparison.Ordinal);
        Assert.StartsWith("error: old_text and new_text are identical", h.Call("edit_file", new { path = "a.txt", old_text = "hello", new_text = "hello" }).Output, StringComparison.Ordinal);
        Assert.Equal("error: 'b.txt' does not exist (create it with write_file)", h.Call("edit_file", new { path = "b.txt", old_text = "a", new_text = "b" }).Output);
    }

    [Fact]
    public void Crlf_files_accept_lf_text_and_stay_crlf()
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("win.txt", "one\r\ntwo\r\nthree\r\n");

        var result = h.Call("edit_file", new { path = "win.txt", old_text = "one\ntwo", new_text = "1\n2" });

        Assert.True(result.Ok, result.Output);
        Assert.Equal("1\r\n2\r\nthree\r\n", File.ReadAllText(h.InWorkspace("win.txt")));
    }

    [Fact]
    public void Byte_order_mark_is_kept()
    {
        using var h = new ToolHarness();
        File.WriteAllBytes(h.InWorkspace("bom.txt"), [0xEF, 0xBB, 0xBF, (byte)'a', (byte)'b']);

        h.Call("edit_file", new { path = "bom.txt", old_text = "b", new_text = "c" });

        Assert.Equal(new byte[] { 0xEF, 0xBB, 0xBF, (byte)'a', (byte)'c' }, File.ReadAllBytes(h.InWorkspace("bom.txt")));
    }

    [Fact]
    public void Binary_files_are_refused()
    {
        using var h = new ToolHarness();
        File.WriteAllBytes(h.InWorkspace("b.bin"), [1, 0, 2]);

        Assert.Equal("error: 'b.bin' is a binary file (it contains NUL bytes); edit_file only works on text files", h.Call("edit_file", new { path = "b.bin", old_text = "a", new_text = "b" }).Output);
    }

    [Fact]
    public void Occurrence_search_is_linear_for_a_hostile_needle()
    {
        // a^n against a^(m-2) b a: naive search compares ~m characters at each of n positions.
        string text = new('a', 2_000_000);
        string needle = new string('a', 500_000) + "ba";

        var (count, first) = EditFileTool.Occurrences(text, needle);

        Assert.Equal(0, count);
        Assert.Empty(first);
        Assert.Equal(3, EditFileTool.Occurrences("abababa", "aba").Count);
    }

    [Fact]
    public void Long_changes_are_shortened_in_the_diff()
    {
        using var h = new ToolHarness();
        string many = string.Concat(Enumerable.Range(1, 100).Select(i => $"l{i}\n"));
        h.WriteWorkspaceFile("a.txt", "start\n" + many + "end\n");

        var result = h.Call("edit_file", new { path = "a.txt", old_text = many, new_text = "short\n" });

        Assert.Contains("-… (75 more lines)\n+short\n end\n", result.Output, StringComparison.Ordinal);
    }
}
