namespace Tern.Cli.Tests;

public sealed class BenchCommandTests
{
    [Fact]
    public void Prints_a_pp_and_a_tg_row_with_speeds()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "-p", "32", "-n", "8", "-r", "2", "-t", "1");
        Assert.True(code == 0, stderr);
        Assert.Matches(@"\| stories260K \| F32 \| 1 \| pp32 \| [\d.]+ ± [\d.]+ \|", stdout);
        Assert.Matches(@"\| stories260K \| F32 \| 1 \| tg8 \| [\d.]+ ± [\d.]+ \|", stdout);
    }

    [Fact]
    public void Bad_counts_are_refused()
    {
        var (code, _, stderr) = CliRunner.Run("bench", "-r", "0");
        Assert.Equal(1, code);
        Assert.Contains("--repetitions", stderr);
    }
}
