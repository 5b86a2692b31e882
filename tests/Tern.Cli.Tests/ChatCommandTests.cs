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

    /// <summary>A terminal whose Ctrl-C is pressed once, as the first answer starts streaming.</summary>
    private sealed class CtrlCOnFirstAnswer : ChatConsole
    {
        private Func<bool>? _handler;

        public CtrlCOnFirstAnswer() : base(isTerminal: true) { }

        public bool Handled { get; private set; }

        public override IDisposable OnInterrupt(Func<bool> handler)
        {
            _handler = handler;
            return new StringReader(""); // nothing to unsubscribe from
        }

        /// <summary>The chat's stdout: the first text that is not the "> " prompt presses Ctrl-C.</summary>
        public TextWriter Output() => new PressingWriter(this);

        private sealed class PressingWriter(CtrlCOnFirstAnswer console) : StringWriter
        {
            public override void Write(string? value)
            {
                base.Write(value);
                if (console._handler is { } press && !console.Handled && !string.IsNullOrWhiteSpace(value) && value != "> ")
                    console.Handled = press();
            }
        }
    }

    private static ChatSettings Settings(string? model, int maxTokens, string? templateFile = null) =>
        new(model, null, null, maxTokens, 0, 1, p => p with { Temperature = 0 }) { TemplateFile = templateFile };

    [Fact]
    public void Ctrl_c_stops_the_answer_not_the_chat()
    {
        var console = new CtrlCOnFirstAnswer();
        var stdout = console.Output();
        var stderr = new StringWriter();

        int code = ChatCommand.Converse(Settings(null, 200), new StringReader("Tell me a story\nHello\n"), stdout, stderr, console);

        Assert.Equal(0, code);
        Assert.True(console.Handled, stderr.ToString()); // the key was taken: the program went on
        Assert.Contains("(answer stopped)", stderr.ToString());
        var answers = Answers(stderr.ToString());
        Assert.Single(answers); // the stopped answer has no speed line; the second one does
        Assert.True(answers[0].Cached > 0, stderr.ToString()); // and the second prompt still extends the first exchange
    }

    [Fact]
    public void Reasoning_is_dimmed_on_a_terminal_and_left_out_of_piped_output()
    {
        // The Qwen3.5 template opens <think> for the answer, so everything the random-weight model writes is reasoning.
        var settings = Settings(SharedData.Path("models/qwen3-tiny-q8_0.gguf"), 6, SharedData.Path("templates/2026/Qwen-Qwen3.5-4B.jinja"));
        var terminal = new StringWriter();
        var piped = new StringWriter();

        Assert.Equal(0, ChatCommand.Converse(settings, new StringReader("Hello\n"), terminal, new StringWriter(), new ChatConsole(isTerminal: true)));
        Assert.Equal(0, ChatCommand.Converse(settings, new StringReader("Hello\n"), piped, new StringWriter(), new ChatConsole(isTerminal: false)));

        Assert.Contains("\u001b[2m", terminal.ToString()); // dim on
        Assert.Contains("\u001b[0m", terminal.ToString()); // and off again
        Assert.StartsWith("> ", terminal.ToString());
        Assert.True(string.IsNullOrWhiteSpace(piped.ToString()), piped.ToString());
    }

    [Fact]
    public void A_missing_template_file_is_named()
    {
        var (code, _, stderr) = Chat("Hello\n", "chat", "--chat-template-file", "/nonexistent/t.jinja");

        Assert.NotEqual(0, code);
        Assert.Contains("/nonexistent/t.jinja", stderr);
    }
}
