using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Tern.Models.Synthesis;

namespace Tern.Cli;

/// <summary>
/// `tern synth --shape NAME [--type TYPE] -o FILE [--layers N] [--seed S] [--context N] [--pure]`: a random-weight GGUF
/// file of a real model's shape, for benchmarks without downloads.
/// </summary>
public static class SynthCommand
{
    public static Command Create(TextWriter stdout)
    {
        var shape = new Option<string>("--shape") { Description = $"model shape: {string.Join(", ", ModelShapes.Names)}", Required = true };
        var type = new Option<string?>("--type", "-t") { Description = $"weight type (default: the shape's own, f16 or tq2_0): {string.Join(", ", SynthesisTypes.Names)}" };
        var output = new Option<string>("--output", "-o") { Description = "GGUF file to write", Required = true };
        var layers = new Option<int?>("--layers") { Description = "number of layers (default: the shape's)" };
        var seed = new Option<ulong>("--seed") { Description = "random seed: the same seed writes the same file", DefaultValueFactory = _ => 1 };
        var context = new Option<int?>("--context") { Description = "context length to record (default: the shape's)" };
        var pure = new Option<bool>("--pure") { Description = "every weight matrix in TYPE, not llama-quantize's mix (output in q6_k, k-quant mixes)" };
        var command = new Command("synth", "Write a GGUF file with random weights in the shape of a real model.")
        {
            shape, type, output, layers, seed, context, pure,
        };
        command.SetAction(parse =>
        {
            var model = SyntheticModel.Create(parse.GetValue(shape)!, parse.GetValue(type), parse.GetValue(layers),
                parse.GetValue(context), parse.GetValue(seed), parse.GetValue(pure));
            string path = parse.GetValue(output)!;
            var clock = Stopwatch.StartNew();
            model.WriteFile(path, ProgressReporter(stdout, model.TensorBytes));
            Print(stdout, model, path, clock.Elapsed);
            return 0;
        });
        return command;
    }

    private static void Print(TextWriter stdout, SyntheticModel model, string path, TimeSpan elapsed)
    {
        var s = model.Shape;
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {path}: {s.Name} ({s.Architecture}, {s.BlockCount} layers, context {s.ContextLength}), {model.Type.Name}{(model.Pure ? " pure" : "")}, seed {model.Seed}, {model.ParameterCount:N0} parameters, {model.Tensors.Count} tensors, {InfoCommand.FormatBytes(model.TensorBytes)} in {elapsed.TotalSeconds:F1} s"));
        foreach (var note in model.Notes)
            stdout.WriteLine($"note: {note}");
    }

    /// <summary>A percentage on the terminal's stderr while a large file is written; nothing when output is captured.</summary>
    private static Action<long>? ProgressReporter(TextWriter stdout, long total)
    {
        if (!ReferenceEquals(stdout, Console.Out) || Console.IsErrorRedirected || total < 256L << 20)
            return null;
        int shown = -1;
        return written =>
        {
            int percent = (int)(written * 100 / total);
            if (percent == shown)
                return;
            shown = percent;
            Console.Error.Write(percent < 100 ? $"\r{percent,3}%" : "\r    \r");
        };
    }
}
