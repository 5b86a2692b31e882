namespace Tern.Cli.Tests;

/// <summary>The loading line (file, size, mapped, repacked N/M tensors) is drawn on a terminal and nowhere else.</summary>
public sealed class LoadProgressLineTests
{
    private static readonly string Model = SharedData.Path("models/llama-tiny-q4_0.gguf");

    private static (int Code, string Stdout, string Stderr) Run(string command, bool terminal)
    {
        string[] args = command switch
        {
            "run" => ["run", "-m", Model, "-p", "Hello", "-n", "2"],
            "bench" => ["bench", "-m", Model, "-p", "8", "-n", "2", "-r", "1", "-o", "jsonl"],
            _ => ["chat", "-m", Model, "-n", "2"],
        };
        using var pretend = terminal ? Terminal.Pretend() : null;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = TernCommand.Run(args, stdout, stderr, new StringReader("Hello\n"));
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData("run")]
    [InlineData("chat")]
    [InlineData("bench")]
    public void On_a_terminal_loading_draws_one_line_in_place_that_ends_with_every_matrix_repacked(string command)
    {
        var (code, stdout, stderr) = Run(command, terminal: true);

        Assert.True(code == 0, stderr);
        var line = System.Text.RegularExpressions.Regex.Match(stderr, @"\r\x1b\[2Kloading llama-tiny-q4_0\.gguf: [\d.]+ [KM]iB mapped, repacked (\d+)/(\d+) tensors\n");
        Assert.True(line.Success, stderr);
        Assert.Equal(line.Groups[2].Value, line.Groups[1].Value);
        Assert.True(int.Parse(line.Groups[2].Value) > 0);
        Assert.DoesNotContain("loading", stdout);
    }

    [Theory]
    [InlineData("run")]
    [InlineData("chat")]
    [InlineData("bench")]
    public void Redirected_output_gets_no_loading_line(string command)
    {
        var (code, stdout, stderr) = Run(command, terminal: false);

        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("loading", stderr);
        Assert.DoesNotContain("\r", stderr + stdout);
    }
}
