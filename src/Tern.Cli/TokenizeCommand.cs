using System.CommandLine;

namespace Tern.Cli;

/// <summary>`tern tokenize -m FILE -p TEXT [--no-bos]`: token ids on one line.</summary>
public static class TokenizeCommand
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("tokenize", "Tokenize text with a model's tokenizer.");
        return command;
    }
}
