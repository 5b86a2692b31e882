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

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model, stories260K)" };
        var hubModel = new Option<string?>("--hf-repo", "-hf") { Description = "OWNER/NAME[:QUANT] from the hub, pulled into the cache if missing (see tern pull)" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "text to continue", Required = true };
        var predict = new Option<int>("--n-predict", "-n") { Description = "tokens to generate (-1: until end of text or a full context)", DefaultValueFactory = _ => -1 };
        var context = new Option<int>("--ctx-size", "-c") { Description = $"context length in tokens (0: the model's, at most {DefaultContext})" };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var temperature = new Option<float?>("--temp") { Description = "temperature (default: the model family's, see tern info; 0 = greedy)" };
        var topK = new Option<int?>("--top-k") { Description = "keep the K most likely tokens (0: off; default: the model's, see tern info)" };
        var topP = new Option<float?>("--top-p") { Description = "keep the smallest set reaching probability P (1: off; default: the model's)" };
        var minP = new Option<float?>("--min-p") { Description = "drop tokens below P × the top probability (0: off; default: the model's)" };
        var repeatPenalty = new Option<float?>("--repeat-penalty") { Description = "penalty for recently seen tokens (1: off; default: the model's)" };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "random seed (default: random, printed)" };
        var command = new Command("run", "Generate text from a prompt.")
        {
            model, hubModel, prompt, predict, context, threads, temperature, topK, topP, minP, repeatPenalty, seed,
        };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(predict);
            if (n < -1)
                throw new ArgumentException($"--n-predict must be -1 or more, got {n}");
            int t = parse.GetValue(threads);
            if (t < 0)
                throw new ArgumentException($"--threads must be 0 or more, got {t}");
            string path = TernCommand.ResolveModel(parse.GetValue(model), parse.GetValue(hubModel), stderr);
            using var m = DecoderModel.Load(path, new ModelOptions { Threads = t });
            var tokenizer = Tokenizer.FromGguf(m.File);
            int ctx = ContextLength(m, parse.GetValue(context), stderr);

            var defaults = DefaultSampling.For(m.File);
            var sampling = defaults with
            {
                Temperature = parse.GetValue(temperature) ?? defaults.Temperature,
                TopK = parse.GetValue(topK) ?? defaults.TopK,
                TopP = parse.GetValue(topP) ?? defaults.TopP,
                MinP = parse.GetValue(minP) ?? defaults.MinP,
                RepeatPenalty = parse.GetValue(repeatPenalty) ?? defaults.RepeatPenalty,
                Seed = parse.GetValue(seed) ?? (ulong)Random.Shared.NextInt64(),
            };
            sampling.Validate(m.Config.VocabSize);
            stderr.WriteLine($"sampling: {DefaultSampling.Describe(sampling)}");

            var generator = new TextGenerator(m, tokenizer, ctx);
            var result = generator.Generate(parse.GetValue(prompt)!, new GenerationOptions { Sampling = sampling, MaxTokens = n < 0 ? null : n },
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
