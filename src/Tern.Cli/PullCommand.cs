using System.CommandLine;
using Tern.Cli.Hub;

namespace Tern.Cli;

/// <summary>`tern pull OWNER/NAME[:QUANT]`: downloads a GGUF from a Hugging Face-compatible hub into the model cache; prints its path.</summary>
public static class PullCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var reference = new Argument<string>("model") { Description = "OWNER/NAME[:QUANT], e.g. unsloth/Qwen3-0.6B-GGUF:Q4_K_M (default quant Q4_K_M)" };
        var offline = TernCommand.OfflineOption();
        var command = new Command("pull", "Download a GGUF model (every part of a split one) from the hub (HF_ENDPOINT, HF_TOKEN) into the cache (TERN_MODELS).") { reference, offline };
        command.SetAction(async (parse, cancel) =>
        {
            string path = await ModelPull.PullAsync(parse.GetValue(reference)!, stderr, ShowsProgress(stderr), parse.GetValue(offline), cancel);
            stdout.WriteLine(path);
            return 0;
        });
        return command;
    }

    /// <summary>A live progress line only on a terminal.</summary>
    public static bool ShowsProgress(TextWriter stderr) => ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
}
