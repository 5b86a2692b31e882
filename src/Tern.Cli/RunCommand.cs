using System.CommandLine;
using System.Globalization;
using Tern.Models;
using Tern.Runtime;
using Tern.Runtime.Sampling;
using Tern.Tokenizers;

namespace Tern.Cli;

/// <summary>
/// `tern run [-m FILE | -hf REPO[:QUANT]] -p TEXT [-n N] [-c CTX] [-t THREADS] [--temp T] [--top-k K] [--top-p P] [--min-p P]
/// [--repeat-penalty R] [--seed S]`: streams the continuation of a prompt to stdout and the speeds to stderr.
/// Flags mean what they mean in llama.cpp.
/// </summary>
public static class RunCommand
{
    private const int DefaultContext = 4096;

    public static Command Create(TextWriter stdout, TextWriter stderr, TextReader stdin)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model, stories260K)" };
        var hubModel = TernCommand.HubOption();
        var offline = TernCommand.OfflineOption();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "text to continue (- reads it from stdin)" };
        var file = new Option<string?>("--file", "-f") { Description = "read the prompt from this file" };
        var predict = new Option<int>("--n-predict", "-n") { Description = "tokens to generate (-1: until end of text or a full context)", DefaultValueFactory = _ => -1 };
        var context = new Option<int>("--ctx-size", "-c") { Description = $"context length in tokens (0: the model's, at most {DefaultContext})" };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var grammar = new Option<string?>("--grammar") { Description = "constrain the text to this GBNF grammar (llama.cpp's syntax)" };
        var grammarFile = new Option<string?>("--grammar-file") { Description = "read the GBNF grammar from this file" };
        var jsonSchema = new Option<string?>("--json-schema", "-j") { Description = "constrain the text to JSON valid against this schema (JSON text)" };
        var conversation = new Option<bool>("--conversation", "-cnv") { Description = "chat instead: an interactive conversation (tern chat)" };
        var systemPrompt = new Option<string?>("--system-prompt", "-sys") { Description = "with -cnv: the system prompt" };
        var command = new Command("run", "Generate text from a prompt.")
        {
            model, hubModel, offline, prompt, file, predict, context, threads, grammar, grammarFile, jsonSchema, conversation, systemPrompt,
        };
        var sampling = SamplingFlags.AddTo(command);
        var habits = HabitFlags.AddTo(command);
        command.SetAction(parse =>
        {
            habits(parse, stderr);
            if (parse.GetValue(conversation))
            {
                string? first = parse.GetValue(prompt) is null && parse.GetValue(file) is null ? null : PromptText(parse.GetValue(prompt), parse.GetValue(file), stdin);
                return ChatCommand.Converse(new ChatSettings(TernCommand.ResolveModel(parse.GetValue(model), parse.GetValue(hubModel), stderr, parse.GetValue(offline)), parse.GetValue(systemPrompt), first, parse.GetValue(predict), parse.GetValue(context),
                    parse.GetValue(threads), p => sampling(parse, p)), stdin, stdout, stderr);
            }

            string text = PromptText(parse.GetValue(prompt), parse.GetValue(file), stdin);
            var constraint = Constraint(parse.GetValue(grammar), parse.GetValue(grammarFile), parse.GetValue(jsonSchema));
            int n = parse.GetValue(predict);
            if (n < -1)
                throw new ArgumentException($"--n-predict must be -1 or more, got {n}");
            int t = parse.GetValue(threads);
            if (t < 0)
                throw new ArgumentException($"--threads must be 0 or more, got {t}");
            string path = TernCommand.ResolveModel(parse.GetValue(model), parse.GetValue(hubModel), stderr, parse.GetValue(offline));
            using var m = LoadProgressLine.Load(path, new ModelOptions { Threads = t }, stderr);
            var tokenizer = Tokenizer.FromGguf(m.File);
            int ctx = ContextLength(m, parse.GetValue(context), stderr);

            var chosen = sampling(parse, DefaultSampling.For(m.File));
            chosen.Validate(m.Config.VocabSize);
            stderr.WriteLine($"sampling: {DefaultSampling.Describe(chosen)}");

            var generator = new TextGenerator(m, tokenizer, ctx);
            var result = generator.Generate(text, new GenerationOptions { Sampling = chosen, MaxTokens = n < 0 ? null : n, Grammar = constraint },
                text => stdout.Write(text));
            stdout.WriteLine();
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"prompt: {result.PromptTokens} tokens in {result.PromptTime.TotalSeconds:F3} s, {result.PromptTokensPerSecond:F1} tokens/s"));
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"generation: {result.GeneratedTokens} tokens in {result.GenerationTime.TotalSeconds:F3} s, {result.GenerationTokensPerSecond:F1} tokens/s (stopped: {StopText(result.StopReason)})"));
            return 0;
        });
        return command;
    }

    /// <summary>The grammar of --grammar, --grammar-file or --json-schema (at most one); a bad one is an error naming the flag.</summary>
    internal static Tern.Runtime.Grammar.Grammar? Constraint(string? gbnf, string? gbnfFile, string? schema)
    {
        if (new[] { gbnf, gbnfFile, schema }.Count(v => v is not null) > 1)
            throw new ArgumentException("give one of --grammar, --grammar-file and --json-schema");
        string flag = gbnf is not null ? "--grammar" : gbnfFile is not null ? "--grammar-file" : "--json-schema";
        try
        {
            if (gbnfFile is not null)
                gbnf = File.Exists(gbnfFile) ? File.ReadAllText(gbnfFile) : throw new FileNotFoundException($"--grammar-file {gbnfFile}: no such file");
            if (gbnf is not null)
                return Tern.Runtime.Grammar.Grammar.Parse(gbnf);
            if (schema is null)
                return null;
            using var document = System.Text.Json.JsonDocument.Parse(schema);
            return Tern.Runtime.Grammar.JsonSchemaGrammar.FromSchema(document.RootElement);
        }
        catch (Exception e) when (e is Tern.Runtime.Grammar.GrammarException or System.Text.Json.JsonException)
        {
            throw new ArgumentException($"{flag}: {e.Message}", e);
        }
    }

    /// <summary>The prompt: -p TEXT, -p - (stdin) or -f FILE, exactly one of them.</summary>
    internal static string PromptText(string? prompt, string? file, TextReader stdin) => (prompt, file) switch
    {
        (null, null) => throw new ArgumentException("a prompt is required: -p TEXT, -p - (read stdin) or -f FILE"),
        (not null, not null) => throw new ArgumentException("give the prompt once: -p or -f, not both"),
        ("-", null) => stdin.ReadToEnd(),
        (not null, null) => prompt,
        (null, not null) => File.Exists(file) ? File.ReadAllText(file) : throw new FileNotFoundException($"-f {file}: no such file"),
    };

    /// <summary>-c as given, or the model's trained context capped at <see cref="DefaultContext"/>; warns above the trained length.</summary>
    public static int ContextLength(IModelRunner model, int requested, TextWriter stderr)
    {
        int trained = model.Config.ContextLength;
        if (requested < 0)
            throw new ArgumentException($"--ctx-size must be 0 or more, got {requested}");
        if (requested == 0)
            return Math.Min(trained, DefaultContext);
        if (requested > trained)
            stderr.WriteLine($"warning: context {requested} exceeds the model's trained context of {trained}; quality may drop");
        return requested;
    }

    private static string StopText(StopReason reason) => reason switch
    {
        StopReason.EndOfGeneration => "end of text",
        StopReason.Length => "token limit or full context",
        StopReason.StopString => "stop string",
        _ => "none",
    };
}
