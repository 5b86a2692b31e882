using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Tern.Models;
using Tern.Runtime.Sampling;
using Tern.Runtime.Serving;
using Tern.Server;
using Tern.Tokenizers;

namespace Tern.Cli;

/// <summary>What a conversation runs with: the model, the system prompt, a first message, limits and sampling over the model's defaults.</summary>
internal sealed record ChatSettings(string? Model, string? SystemPrompt, string? FirstMessage, int MaxTokens, int Context, int Threads,
    Func<SamplingParams, SamplingParams> Sampling)
{
    /// <summary>A Jinja chat template to use instead of the model's (--chat-template-file).</summary>
    public string? TemplateFile { get; init; }
}

/// <summary>The console a chat talks to: whether it is a terminal (prompt shown, reasoning dimmed) and its Ctrl-C key.</summary>
internal class ChatConsole(bool isTerminal)
{
    public bool IsTerminal { get; } = isTerminal;

    /// <summary>The process's console, a terminal when <paramref name="stdout"/> is the console's own, unredirected output.</summary>
    public static ChatConsole For(TextWriter stdout) => new(Terminal.Is(stdout));

    /// <summary>Calls <paramref name="handler"/> on Ctrl-C until disposed; the program goes on when it returns true.</summary>
    public virtual IDisposable OnInterrupt(Func<bool> handler)
    {
        ConsoleCancelEventHandler h = (_, e) => e.Cancel = handler();
        Console.CancelKeyPress += h;
        return new Unsubscribe(() => Console.CancelKeyPress -= h);
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}

/// <summary>
/// `tern chat [-m FILE | -hf REPO:QUANT] [-sys TEXT]` (and `tern run -cnv`): a conversation in the terminal, as `llama-cli -cnv` and
/// `ollama run` give: each line is a user message, rendered with the model's own chat template and the history, the
/// answer streams (its reasoning dimmed on a terminal), the speed follows on stderr. <c>/clear</c> forgets the history,
/// <c>/exit</c> (or end of input) leaves, Ctrl-C stops the current answer, not the program. The history's prefix is
/// reused from the KV cache, as the server reuses it.
/// </summary>
public static class ChatCommand
{
    public static Command Create(TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model, stories260K)" };
        var systemPrompt = new Option<string?>("--system-prompt", "-sys") { Description = "the system prompt" };
        var predict = new Option<int>("--n-predict", "-n") { Description = "most tokens per answer (-1: until the model ends it or the context is full)", DefaultValueFactory = _ => -1 };
        var context = new Option<int>("--ctx-size", "-c") { Description = "context length in tokens (0: the model's, at most 4096)" };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var templateFile = new Option<string?>("--chat-template-file") { Description = "Jinja chat template to use instead of the model's" };
        var hubModel = TernCommand.HubOption();
        var offline = TernCommand.OfflineOption();
        var command = new Command("chat", "Chat with the model in the terminal.") { model, hubModel, offline, systemPrompt, predict, context, threads, templateFile };
        var sampling = SamplingFlags.AddTo(command);
        var habits = HabitFlags.AddTo(command);
        command.SetAction(parse =>
        {
            habits(parse, stderr);
            return Converse(new ChatSettings(TernCommand.ResolveModel(parse.GetValue(model), parse.GetValue(hubModel), stderr, parse.GetValue(offline)), parse.GetValue(systemPrompt), null, parse.GetValue(predict), parse.GetValue(context),
                parse.GetValue(threads), p => sampling(parse, p)) { TemplateFile = parse.GetValue(templateFile) }, stdin, stdout, stderr);
        });
        return command;
    }

    internal static int Converse(ChatSettings settings, TextReader stdin, TextWriter stdout, TextWriter stderr, ChatConsole? console = null)
    {
        console ??= ChatConsole.For(stdout);
        if (settings.MaxTokens < -1)
            throw new ArgumentException($"--n-predict must be -1 or more, got {settings.MaxTokens}");
        if (settings.Threads < 0)
            throw new ArgumentException($"--threads must be 0 or more, got {settings.Threads}");
        var model = LoadProgressLine.Load(TernCommand.ResolveModel(settings.Model), new ModelOptions { Threads = settings.Threads }, stderr);
        var tokenizer = Tokenizer.FromGguf(model.File);
        if (settings.TemplateFile is { } file && !File.Exists(file))
            throw new FileNotFoundException($"--chat-template-file {file} does not exist");
        var template = PromptTemplate.Create(model.File, tokenizer, settings.TemplateFile, specialInContent: false, stderr);
        int context = RunCommand.ContextLength(model, settings.Context, stderr);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1, ContextPerSequence = context }, ownsModel: true);
        var sampling = settings.Sampling(DefaultSampling.For(model.File));
        sampling.Validate(model.Config.VocabSize);
        stderr.WriteLine($"sampling: {DefaultSampling.Describe(sampling)}");
        bool terminal = console.IsTerminal;
        stderr.WriteLine("chat: type a message; /clear forgets the conversation, /exit leaves" + (terminal ? ", Ctrl-C stops an answer" : ""));

        var history = NewHistory(settings.SystemPrompt);
        CancellationTokenSource? answering = null;
        using var interrupt = console.OnInterrupt(() =>
        {
            if (answering is not { IsCancellationRequested: false } current)
                return false; // between answers, Ctrl-C leaves
            current.Cancel(); // stops the answer, not the program
            return true;
        });
        string? pending = settings.FirstMessage;
        while (true)
        {
            if (terminal && pending is null)
                stdout.Write("> ");
            string? line = pending ?? stdin.ReadLine();
            pending = null;
            if (line is null || line.Trim() is "/exit" or "/quit" or "/bye")
                return 0;
            if (line.Trim() == "/clear")
            {
                history = NewHistory(settings.SystemPrompt);
                stderr.WriteLine("(conversation cleared)");
                continue;
            }

            if (line.Trim().Length == 0)
                continue;
            history.Add(new JsonObject { ["role"] = "user", ["content"] = line });
            using var answer = new CancellationTokenSource();
            answering = answer;
            var reply = Answer(engine, template, history, sampling, settings.MaxTokens, terminal, stdout, stderr, answer.Token).GetAwaiter().GetResult();
            answering = null;
            var message = new JsonObject { ["role"] = "assistant", ["content"] = reply.Content };
            if (reply.Reasoning.Length > 0)
                message["reasoning_content"] = reply.Reasoning;
            history.Add(message);
        }
    }

    private static JsonArray NewHistory(string? systemPrompt) =>
        string.IsNullOrEmpty(systemPrompt) ? [] : [new JsonObject { ["role"] = "system", ["content"] = systemPrompt }];

    /// <summary>One answer: streamed to stdout (reasoning dimmed on a terminal, left out otherwise), the speed to stderr.</summary>
    private static async Task<(string Content, string Reasoning)> Answer(InferenceEngine engine, PromptTemplate template, JsonArray history,
        SamplingParams sampling, int maxTokens, bool terminal, TextWriter stdout, TextWriter stderr, CancellationToken stop)
    {
        var prompt = await template.TokensAsync(history, tools: null, kwargs: null, CancellationToken.None);
        var splitter = prompt.Splitter(keepMarkup: false);
        var content = new System.Text.StringBuilder();
        var reasoning = new System.Text.StringBuilder();
        GenerationFinished? finished = null;
        void Write(Tern.Chat.Reasoning.ReasoningUpdate update)
        {
            if (update.Reasoning.Length > 0)
            {
                reasoning.Append(update.Reasoning);
                if (terminal)
                    stdout.Write($"\u001b[2m{update.Reasoning}\u001b[0m");
            }

            content.Append(update.Content);
            stdout.Write(update.Content);
            stdout.Flush();
        }

        try
        {
            var request = new GenerationRequest { PromptTokens = prompt.Tokens, Sampling = sampling, MaxTokens = maxTokens < 0 ? null : maxTokens };
            await foreach (var e in engine.Submit(request, stop).WithCancellation(stop))
            {
                if (e is GenerationDelta d)
                    Write(splitter?.Push(d.Text) ?? new(string.Empty, d.Text));
                else if (e is GenerationFinished f)
                    finished = f;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            stderr.WriteLine();
            stderr.WriteLine("(answer stopped)");
        }

        if (splitter is not null)
            Write(splitter.Finish());
        stdout.WriteLine();
        if (finished is not null)
        {
            var t = finished.Timings;
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"prompt: {finished.Usage.PromptTokens} tokens ({finished.Usage.CachedTokens} cached), {t.PromptTokensPerSecond:F1} t/s; answer: {t.GeneratedTokens} tokens, {t.GenerationTokensPerSecond:F1} t/s"));
        }

        return (content.ToString().Trim(), reasoning.ToString().Trim());
    }
}
