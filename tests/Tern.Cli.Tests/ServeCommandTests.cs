namespace Tern.Cli.Tests;

public sealed class ServeCommandTests
{
    [Theory]
    [InlineData("1G", 1L << 30)]
    [InlineData("512M", 512L << 20)]
    [InlineData("64k", 64L << 10)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("10MB", 10L << 20)]
    [InlineData("1048576", 1L << 20)]
    public void Workspace_quota_accepts_sizes_with_binary_units(string text, long bytes) =>
        Assert.Equal(bytes, ServeCommand.ParseSize(text, "--workspace-quota"));

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-1G")]
    [InlineData("1.5G")]
    [InlineData("G")]
    [InlineData("1X")]
    [InlineData("99999999999T")]
    public void Workspace_quota_refuses_anything_else_naming_the_flag(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => ServeCommand.ParseSize(text, "--workspace-quota"));

        Assert.Equal($"--workspace-quota must be a positive size such as 1G, 512M or a number of bytes, got '{text}'", e.Message);
    }

    [Fact]
    public void A_bad_workspace_quota_stops_serve_with_a_clear_error()
    {
        var (exitCode, _, stderr) = CliRunner.Run("serve", "--tools", "--workspace-quota", "lots");

        Assert.Equal(1, exitCode);
        Assert.Contains("--workspace-quota must be a positive size such as 1G, 512M or a number of bytes, got 'lots'", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("auto", Tern.Server.ReasoningFormat.Auto)]
    [InlineData("deepseek", Tern.Server.ReasoningFormat.Auto)]
    [InlineData("none", Tern.Server.ReasoningFormat.None)]
    public void Reasoning_format_takes_llama_servers_names(string name, Tern.Server.ReasoningFormat format) =>
        Assert.Equal(format, ServeCommand.ParseReasoningFormat(name));

    [Fact]
    public void A_bad_reasoning_format_stops_serve_with_a_clear_error()
    {
        var (exitCode, _, stderr) = CliRunner.Run("serve", "--reasoning-format", "deep");

        Assert.Equal(1, exitCode);
        Assert.Contains("--reasoning-format must be auto, deepseek or none, got 'deep'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_negative_checkpoint_count_stops_serve_with_a_clear_error()
    {
        var (exitCode, _, stderr) = CliRunner.Run("serve", "--ctx-checkpoints", "-1");

        Assert.Equal(1, exitCode);
        Assert.Contains("--ctx-checkpoints must be between 0 and 1024, got -1", stderr, StringComparison.Ordinal);
    }
}
