using System.CommandLine;
using Tern.Gguf;
using Tern.Models;

namespace Tern.Cli;

/// <summary>The `tern` root command: wires the subcommands and turns errors into one readable line.</summary>
public static class TernCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, TextReader? stdin = null)
    {
        var root = new RootCommand("Tern: local LLM inference on the CPU, from GGUF files.")
        {
            RunCommand.Create(stdout, stderr, stdin ?? Console.In),
            ChatCommand.Create(stdin ?? Console.In, stdout, stderr),
            PullCommand.Create(stdout, stderr),
            ListCommand.Create(stdout),
            RmCommand.Create(stdout),
            ServeCommand.Create(stdout),
            McpCommand.Create(stderr),
            InfoCommand.Create(stdout),
            TokenizeCommand.Create(stdout),
            LogitsCommand.Create(stdout),
            SynthCommand.Create(stdout),
            BenchCommand.Create(stdout),
            SoakCommand.Create(stdout),
        };
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
            {
                // The line that matters, not the whole help text.
                foreach (var error in parse.Errors)
                    stderr.WriteLine($"error: {error.Message.ReplaceLineEndings(" ")}");
                string name = parse.CommandResult.Command is RootCommand ? "tern" : $"tern {parse.CommandResult.Command.Name}";
                stderr.WriteLine($"(see {name} --help for the options)");
                return 1;
            }

            if (parse.CommandResult.Command.Name == "serve")
                config.ProcessTerminationTimeout = null; // serve handles SIGTERM and Ctrl-C itself: it drains (ShutdownSignals)
            return parse.Invoke(config);
        }
        catch (Exception e) when (IsUserError(e))
        {
            stderr.WriteLine($"error: {e.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
    }

    /// <summary>Errors caused by what the user gave us: reported as one line, never a stack trace.</summary>
    private static bool IsUserError(Exception e) => e is GgufFormatException or FileNotFoundException
        or DirectoryNotFoundException or UnauthorizedAccessException or IOException or InvalidDataException
        or NotSupportedException or InvalidCastException or KeyNotFoundException or ArgumentException
        || e.GetType().Name.EndsWith("Exception", StringComparison.Ordinal) && e.GetType().Namespace?.StartsWith("Tern", StringComparison.Ordinal) == true;

    /// <summary>The model file given with -m or as an argument, or the embedded default model.</summary>
    public static string ResolveModel(string? path) => path ?? DefaultModel.Path();

    /// <summary>`-hf OWNER/NAME[:QUANT]` (llama.cpp's spelling), on every command that loads a model.</summary>
    public static Option<string?> HubOption() =>
        new("--hf-repo", "-hf") { Description = "OWNER/NAME[:QUANT] from the hub, pulled into the cache if missing (see tern pull)" };

    /// <summary>`--offline`: -hf takes the cached copy without asking the hub (as HF_HUB_OFFLINE=1 does).</summary>
    public static Option<bool> OfflineOption() =>
        new("--offline") { Description = "use the cached copy of an -hf model without asking the hub (also HF_HUB_OFFLINE=1)" };

    /// <summary>The model file given with -m, or the hub model given with -hf (pulled into the cache if missing;
    /// offline, the cached copy), or the default.</summary>
    public static string ResolveModel(string? path, string? hubReference, TextWriter stderr, bool offline = false)
    {
        if (hubReference is null)
            return ResolveModel(path);
        if (path is not null)
            throw new ArgumentException("give either -m FILE or -hf REPO[:QUANT], not both");
        return Hub.ModelPull.PullAsync(hubReference, stderr, PullCommand.ShowsProgress(stderr), offline, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>A KV cache type (f16, q8_0, q4_0) given to <paramref name="flag"/>; the error names the flag.</summary>
    public static GgmlType ParseKvType(string name, string flag)
    {
        try
        {
            return KvCache.ParseType(name);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{flag}: {e.Message}", e);
        }
    }
}
