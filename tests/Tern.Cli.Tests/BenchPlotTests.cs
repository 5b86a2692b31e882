using System.Xml.Linq;

namespace Tern.Cli.Tests;

public sealed class BenchPlotTests
{
    [Fact]
    public void Svg_plot_is_an_svg_document_with_labelled_axes()
    {
        using var dir = new TempDirectory();
        string path = dir.File("speed.svg");
        var (code, _, stderr) = CliRunner.Run("bench", "-p", "8", "-n", "2", "-d", "0,16", "-r", "1", "-t", "1", "--plot", path);
        Assert.True(code == 0, stderr);
        var svg = XDocument.Load(path);
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        // Skia writes each label as a <text> element: both panels' titles and the axis labels are in there.
        string text = string.Concat(svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value));
        Assert.Contains("tokens/s", text);
        Assert.Contains("prompt processing", text);
        Assert.Contains("generation", text);
    }

    [Fact]
    public void Png_plot_is_a_png_image()
    {
        using var dir = new TempDirectory();
        string path = dir.File("speed.png");
        var (code, _, stderr) = CliRunner.Run("bench", "-p", "8", "-n", "2", "-d", "0,16", "-r", "1", "-t", "1", "-o", "json", "--plot", path);
        Assert.True(code == 0, stderr);
        byte[] png = File.ReadAllBytes(path);
        Assert.Equal([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], png[..8]);
        Assert.True(png.Length > 10_000, $"{png.Length} bytes");
    }

    [Fact]
    public void Plot_to_another_format_is_refused_before_running()
    {
        using var dir = new TempDirectory();
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "8", "-n", "2", "-r", "1", "--plot", dir.File("speed.pdf"));
        Assert.Equal(1, code);
        Assert.Contains("--plot", stderr);
        Assert.Contains(".svg or .png", stderr);
        Assert.Empty(stdout);
    }
}
