using System.CommandLine;
using Tern.Cli.Hub;

namespace Tern.Cli;

/// <summary>`tern rm OWNER/NAME[:QUANT]`: deletes cached models (as `tern list` names them) from Tern's cache.</summary>
public static class RmCommand
{
    public static Command Create(TextWriter stdout)
    {
        var reference = new Argument<string>("model") { Description = "OWNER/NAME[:QUANT] as tern list shows it (without a quant: every file of OWNER/NAME)" };
        var command = new Command("rm", "Delete a cached model (and its unfinished download) from TERN_MODELS; llama.cpp's cache is never touched.") { reference };
        command.SetAction(parse =>
        {
            foreach (string path in ModelRemove.Remove(parse.GetValue(reference)!))
                stdout.WriteLine($"removed {path}");
            return 0;
        });
        return command;
    }
}
