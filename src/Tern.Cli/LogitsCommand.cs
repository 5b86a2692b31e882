using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using Tern.Models;
using Tern.Tokenizers;

namespace Tern.Cli;

/// <summary>
/// `tern logits [-m FILE] -p TEXT -o OUT.f32`: evaluates the prompt as one batch and writes the logits of every
/// position as n_tokens × n_vocab little-endian float32, plus OUT.json with `tokens` and `n_vocab` (the layout of
/// the golden reference files).
/// </summary>
public static class LogitsCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model)" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "text to evaluate", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "output file for the logits (float32); the JSON goes beside it", Required = true };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var noRepack = BenchCommand.NoRepackOption();
        var command = new Command("logits", "Write the logits of every prompt position, as float32.") { model, prompt, output, threads, noRepack };
        command.SetAction(parse =>
        {
            string outPath = Path.GetFullPath(parse.GetValue(output)!);
            string jsonPath = Path.ChangeExtension(outPath, ".json");
            if (jsonPath == outPath)
                throw new ArgumentException($"--output {outPath} must not end in .json: the token list is written to {jsonPath}");
            string modelPath = TernCommand.ResolveModel(parse.GetValue(model));
            using var m = DecoderModel.Load(modelPath, new ModelOptions { Threads = parse.GetValue(threads), Repack = !parse.GetValue(noRepack) });
            int[] tokens = Tokenizer.FromGguf(m.File).Encode(parse.GetValue(prompt)!, addSpecial: true, parseSpecial: true);
            if (tokens.Length == 0)
                throw new ArgumentException("the prompt is empty: no positions to evaluate");

            int vocab = m.Config.VocabSize;
            using var cache = m.CreateState(tokens.Length);
            var sequence = cache.CreateSequence();
            var batch = new TokenBatch();
            for (int i = 0; i < tokens.Length; i++)
                batch.Add(tokens[i], i, sequence, logits: true);
            var logits = new float[(long)tokens.Length * vocab];  // [n_tokens, n_vocab]
            m.Forward(batch, cache, logits);

            WriteAtomically(outPath, s => s.Write(MemoryMarshal.AsBytes(logits.AsSpan())));
            WriteAtomically(jsonPath, s =>
            {
                using var json = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true });
                json.WriteStartObject();
                json.WriteString("model", modelPath);
                json.WriteString("prompt", parse.GetValue(prompt));
                json.WriteStartArray("tokens");
                foreach (int t in tokens)
                    json.WriteNumberValue(t);
                json.WriteEndArray();
                json.WriteNumber("n_vocab", vocab);
                json.WriteString("logits_file", Path.GetFileName(outPath));
                json.WriteEndObject();
            });
            stdout.WriteLine($"{tokens.Length} positions × {vocab} logits → {outPath} (+ {Path.GetFileName(jsonPath)})");
            return 0;
        });
        return command;
    }

    private static void WriteAtomically(string path, Action<Stream> write)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
                write(stream);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
