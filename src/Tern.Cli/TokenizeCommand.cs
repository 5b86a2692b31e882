using System.CommandLine;
using Tern.Gguf;
using Tern.Tokenizers;

namespace Tern.Cli;

/// <summary>`tern tokenize [-m FILE] -p TEXT [--no-bos] [--no-parse-special]`: token ids on one line, as llama-tokenize --ids.</summary>
public static class TokenizeCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model)" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "text to tokenize", Required = true };
        var noBos = new Option<bool>("--no-bos") { Description = "do not add BOS/EOS even if the model asks for them" };
        var noParseSpecial = new Option<bool>("--no-parse-special") { Description = "treat special-token text such as <s> as plain text" };
        var command = new Command("tokenize", "Print the token ids of a text, space separated.") { model, prompt, noBos, noParseSpecial };
        command.SetAction(parse =>
        {
            using var gguf = GgufSplit.Open(TernCommand.ResolveModel(parse.GetValue(model)));
            var tokenizer = Tokenizer.FromGguf(gguf);
            var ids = tokenizer.Encode(parse.GetValue(prompt)!, addSpecial: !parse.GetValue(noBos), parseSpecial: !parse.GetValue(noParseSpecial));
            stdout.WriteLine(string.Join(' ', ids));
            return 0;
        });
        return command;
    }
}
