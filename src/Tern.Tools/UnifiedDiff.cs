using System.Text;

namespace Tern.Tools;

/// <summary>
/// A short unified diff of one replacement, for the model to check its edit: one hunk with two lines of context,
/// long runs of changed lines and very long lines shortened.
/// </summary>
internal static class UnifiedDiff
{
    private const int ContextLines = 2;
    private const int MaxLinesPerSide = 30;
    private const int MaxLineChars = 300;

    /// <summary>The diff of replacing <paramref name="oldLength"/> chars at <paramref name="index"/> of <paramref name="text"/> by <paramref name="newText"/>.</summary>
    public static string ForReplacement(string path, string text, int index, int oldLength, string newText)
    {
        int regionStart = index == 0 ? 0 : text.LastIndexOf('\n', index - 1) + 1;
        int lastNewline = text.IndexOf('\n', Math.Max(index, index + oldLength - 1));
        int regionEnd = lastNewline < 0 ? text.Length : lastNewline + 1;
        string oldRegion = text[regionStart..regionEnd];
        string newRegion = string.Concat(text.AsSpan(regionStart, index - regionStart), newText, text.AsSpan(index + oldLength, regionEnd - index - oldLength));

        var before = LinesBefore(text, regionStart);
        var after = LinesAfter(text, regionEnd);
        var removed = Lines(oldRegion);
        var added = Lines(newRegion);
        int firstLine = text.AsSpan(0, regionStart).Count('\n') + 1 - before.Count;

        var diff = new StringBuilder();
        diff.Append("--- a/").Append(path).Append('\n');
        diff.Append("+++ b/").Append(path).Append('\n');
        diff.Append("@@ -").Append(firstLine).Append(',').Append(before.Count + removed.Count + after.Count)
            .Append(" +").Append(firstLine).Append(',').Append(before.Count + added.Count + after.Count).Append(" @@\n");
        AppendLines(diff, ' ', before);
        AppendLines(diff, '-', removed);
        AppendLines(diff, '+', added);
        AppendLines(diff, ' ', after);
        return diff.ToString();
    }

    private static void AppendLines(StringBuilder diff, char marker, List<string> lines)
    {
        int shown = lines.Count > MaxLinesPerSide ? MaxLinesPerSide - 5 : lines.Count;
        for (int i = 0; i < shown; i++)
        {
            string line = lines[i].TrimEnd('\r');
            diff.Append(marker).Append(line.Length > MaxLineChars ? line[..MaxLineChars] + "…" : line).Append('\n');
        }

        if (shown < lines.Count)
        {
            diff.Append(marker).Append("… (").Append(lines.Count - shown).Append(" more lines)\n");
        }
    }

    private static List<string> Lines(string region)
    {
        if (region.Length == 0)
        {
            return [];
        }

        var lines = region.Split('\n').ToList();
        if (region[^1] == '\n')
        {
            lines.RemoveAt(lines.Count - 1);
        }

        return lines;
    }

    private static List<string> LinesBefore(string text, int start)
    {
        var lines = new List<string>();
        int end = start; // exclusive, just after a '\n'
        while (lines.Count < ContextLines && end > 0)
        {
            int from = end - 1 == 0 ? 0 : text.LastIndexOf('\n', end - 2) + 1;
            lines.Insert(0, text[from..(end - 1)]);
            end = from;
        }

        return lines;
    }

    private static List<string> LinesAfter(string text, int start)
    {
        var lines = new List<string>();
        int from = start;
        while (lines.Count < ContextLines && from < text.Length)
        {
            int newline = text.IndexOf('\n', from);
            int end = newline < 0 ? text.Length : newline;
            lines.Add(text[from..end]);
            from = end + 1;
        }

        return lines;
    }
}
