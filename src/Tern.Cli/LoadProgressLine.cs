using System.Diagnostics;
using System.Globalization;
using Tern.Models;

namespace Tern.Cli;

/// <summary>
/// The line `tern run`, `chat` and `bench` show on a terminal while a model loads, redrawn in place:
/// `loading FILE: SIZE mapped, repacked N/M tensors`. Redirected output gets nothing, so logs and parsers see none of it.
/// </summary>
internal static class LoadProgressLine
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    /// <summary>Loads <paramref name="path"/>, drawing the line on <paramref name="stderr"/> when it is a terminal.</summary>
    public static DecoderModel Load(string path, ModelOptions options, TextWriter stderr)
    {
        if (!Terminal.Is(stderr))
            return DecoderModel.Load(path, options);
        var drawn = Stopwatch.StartNew();
        bool open = false;
        try
        {
            return DecoderModel.Load(path, options with
            {
                Progress = p =>
                {
                    bool done = p.Repacked == p.ToRepack;
                    if (!done && open && drawn.Elapsed < Interval)
                        return; // a redraw per matrix would cost more than the repacking of a small one
                    stderr.Write("\r\x1b[2K" + Text(p));
                    open = !done;
                    if (done)
                        stderr.WriteLine();
                    drawn.Restart();
                },
            });
        }
        finally
        {
            if (open)
                stderr.WriteLine(); // loading failed midway: the error goes on a line of its own
        }
    }

    public static string Text(LoadProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"loading {Path.GetFileName(p.Path)}{(p.Parts > 1 ? $" (+{p.Parts - 1} parts)" : "")}: {InfoCommand.FormatBytes(p.Bytes)} mapped, repacked {p.Repacked}/{p.ToRepack} tensors");
}
