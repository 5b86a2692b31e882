using System.Diagnostics;
using System.Globalization;
using Tern.Models;

namespace Tern.Cli;

/// <summary>
/// The line `tern run`, `chat`, `bench` and `serve` show on a terminal while a model loads, redrawn in place:
/// `loading FILE: SIZE mapped, repacked N/M tensors`. Redirected output gets nothing, so logs and parsers see none of it.
/// </summary>
internal sealed class LoadProgressLine(TextWriter writer)
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    private readonly Stopwatch _drawn = Stopwatch.StartNew();
    private bool _open;

    /// <summary>A line on <paramref name="writer"/> when it is a terminal, else null.</summary>
    public static LoadProgressLine? For(TextWriter writer) => Terminal.Is(writer) ? new LoadProgressLine(writer) : null;

    /// <summary>Loads <paramref name="path"/>, drawing the line on <paramref name="stderr"/> when it is a terminal.</summary>
    public static DecoderModel Load(string path, ModelOptions options, TextWriter stderr)
    {
        if (For(stderr) is not { } line)
            return DecoderModel.Load(path, options);
        try
        {
            return DecoderModel.Load(path, options with { Progress = line.Draw });
        }
        finally
        {
            line.End(); // loading failed midway: the error goes on a line of its own
        }
    }

    /// <summary>Redraws the line (at most every 50 ms, and always the last state); models loading at once take turns.</summary>
    public void Draw(LoadProgress p)
    {
        lock (_drawn)
        {
            bool done = p.Repacked == p.ToRepack;
            if (!done && _open && _drawn.Elapsed < Interval)
                return; // a redraw per matrix would cost more than the repacking of a small one
            writer.Write("\r\x1b[2K" + Text(p));
            _open = !done;
            if (done)
                writer.WriteLine();
            _drawn.Restart();
        }
    }

    /// <summary>Ends a line left open by a load that stopped midway.</summary>
    public void End()
    {
        lock (_drawn)
        {
            if (_open)
                writer.WriteLine();
            _open = false;
        }
    }

    public static string Text(LoadProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"loading {Path.GetFileName(p.Path)}{(p.Parts > 1 ? $" (+{p.Parts - 1} parts)" : "")}: {InfoCommand.FormatBytes(p.Bytes)} mapped, repacked {p.Repacked}/{p.ToRepack} tensors");
}
