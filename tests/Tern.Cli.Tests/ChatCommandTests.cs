using System.Text.RegularExpressions;

namespace Tern.Cli.Tests;

/// <summary>`tern chat` and `tern run -cnv` with the embedded model, its input piped: history, /clear, -sys, /exit.</summary>
public sealed partial class ChatCommandTests
{
    private static (int Code, string Stdout, string Stderr) Chat(string input, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = TernCommand.Run(args, stdout, stderr, new StringReader(input));
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Each answer's prompt size and cached tokens, from the speed line on stderr.</summary>
    private static List<(int Prompt, int Cached)> Answers(string stderr) =>
        [.. SpeedLine().Matches(stderr).Select(m => (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value)))];

    [GeneratedRegex(@"prompt: (\d+) tokens \((\d+) cached\)")]
    private static partial Regex SpeedLine();

    [Fact]
    public void Each_message_sees_the_history_and_reuses_its_prefix()
    {
        var (code, stdout, stderr) = Chat("Hello\nTell me a story\n/exit\nnever read\n", "chat", "--temp", "0", "-n", "8");

        Assert.True(code == 0, stderr);
        var answers = Answers(stderr);
        Assert.Equal(2, answers.Count);
        Assert.True(answers[1].Prompt > answers[0].Prompt + 4, stderr); // the first exchange is in the second prompt
        Assert.True(answers[1].Cached > 0, stderr); // and came from the KV cache
        Assert.Equal(2, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void Clear_forgets_the_conversation()
    {
        var (code, _, stderr) = Chat("Hello\n/clear\nHello\n", "chat", "--temp", "0", "-n", "8");

        Assert.True(code == 0, stderr); // end of input leaves too
        Assert.Contains("(conversation cleared)", stderr);
        var answers = Answers(stderr);
        Assert.Equal(2, answers.Count);
        Assert.Equal(answers[0].Prompt, answers[1].Prompt);
    }

    [Fact]
    public void A_system_prompt_goes_first_and_run_cnv_is_the_same_chat()
    {
        var (_, _, plain) = Chat("Hello\n", "chat", "--temp", "0", "-n", "4");
        var (_, _, withSystem) = Chat("Hello\n", "chat", "--temp", "0", "-n", "4", "-sys", "You are a friendly storyteller.");
        var (code, stdout, viaRun) = Chat("", "run", "-cnv", "-p", "Hello", "--temp", "0", "-n", "4", "-sys", "You are a friendly storyteller.");

        Assert.True(code == 0, viaRun);
        Assert.True(Answers(withSystem)[0].Prompt > Answers(plain)[0].Prompt);
        Assert.Equal(Answers(withSystem)[0].Prompt, Answers(viaRun)[0].Prompt);
        Assert.False(string.IsNullOrWhiteSpace(stdout));
    }
}
