using System.CommandLine;
using Tern.Server;

namespace Tern.Cli;

/// <summary>
/// `tern serve [-m FILE] [--host 127.0.0.1] [--port 8080] [-c CTX] [-np PARALLEL] [-t THREADS] [--api-key KEY]
/// [--alias NAME] [--chat-template-file FILE]`: the OpenAI-compatible server, on loopback unless told otherwise.
/// </summary>
public static class ServeCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file (default: the embedded model)" };
        var host = new Option<string>("--host") { Description = "address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port to listen on", DefaultValueFactory = _ => 8080 };
        var context = new Option<int>("--ctx-size", "-c") { Description = "context per sequence (0: the model's, at most 4096)" };
        var parallel = new Option<int>("--parallel", "-np") { Description = "sequences decoded together", DefaultValueFactory = _ => 4 };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0: one per processor)" };
        var cacheTypeK = new Option<string>("--cache-type-k", "-ctk") { Description = "KV cache type for keys: f16, q8_0, q4_0", DefaultValueFactory = _ => "f16" };
        var cacheTypeV = new Option<string>("--cache-type-v", "-ctv") { Description = "KV cache type for values: f16, q8_0, q4_0", DefaultValueFactory = _ => "f16" };
        var apiKey = new Option<string?>("--api-key") { Description = "require this key as 'Authorization: Bearer KEY' (or set TERN_API_KEY)" };
        var alias = new Option<string?>("--alias") { Description = "model name shown to clients" };
        var templateFile = new Option<string?>("--chat-template-file") { Description = "Jinja chat template to use instead of the model's" };
        var tools = new Option<string?>("--tools") { Description = "built-in tools: all (the default when given) or a list of read_file,write_file,edit_file,grep,shell,time", Arity = ArgumentArity.ZeroOrOne };
        var workspace = new Option<string?>("--workspace") { Description = "directory the tools are confined to (default: the current directory)" };
        var toolTimeout = new Option<int>("--tool-timeout") { Description = "default shell timeout in seconds (max 60)", DefaultValueFactory = _ => 10 };
        var maxToolSteps = new Option<int>("--max-tool-steps") { Description = "tool rounds per request", DefaultValueFactory = _ => 8 };
        var auditLog = new Option<string?>("--audit-log") { Description = "append every tool call to this file as JSON lines" };
        var unsafeShell = new Option<bool>("--unsafe-shell") { Description = "run the shell tool without the bubblewrap sandbox" };
        var command = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API.")
        {
            model, host, port, context, parallel, threads, cacheTypeK, cacheTypeV, apiKey, alias, templateFile, tools, workspace, toolTimeout, maxToolSteps, auditLog, unsafeShell,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var options = new ServerOptions
            {
                ModelPath = TernCommand.ResolveModel(parse.GetValue(model)),
                Host = parse.GetValue(host)!,
                Port = Check(parse.GetValue(port), 0, 65535, "--port"),
                ContextPerSequence = Check(parse.GetValue(context), 0, int.MaxValue, "--ctx-size"),
                Parallel = Check(parse.GetValue(parallel), 1, 256, "--parallel"),
                Threads = Check(parse.GetValue(threads), 0, 1024, "--threads"),
                CacheTypeK = CacheType(parse.GetValue(cacheTypeK)!, "--cache-type-k"),
                CacheTypeV = CacheType(parse.GetValue(cacheTypeV)!, "--cache-type-v"),
                ApiKey = SecretScrubber.ReadApiKey(parse.GetValue(apiKey), stdout),
                Alias = parse.GetValue(alias),
                ChatTemplateFile = parse.GetValue(templateFile),
                Tools = parse.GetResult(tools) is null ? null : parse.GetValue(tools) ?? "all",
                Workspace = parse.GetValue(workspace),
                ToolTimeoutSeconds = Check(parse.GetValue(toolTimeout), 1, 60, "--tool-timeout"),
                MaxToolSteps = Check(parse.GetValue(maxToolSteps), 1, 64, "--max-tool-steps"),
                AuditLog = parse.GetValue(auditLog),
                UnsafeShell = parse.GetValue(unsafeShell),
            };
            if (options.ChatTemplateFile is { } file && !File.Exists(file))
                throw new FileNotFoundException($"--chat-template-file {file} does not exist");
            await using var server = await TernServer.StartAsync(options, stdout, cancellation);
            await server.WaitUntilReadyAsync();
            await server.WaitForShutdownAsync(cancellation);
            return 0;
        });
        return command;
    }

    /// <summary>The name, once it is known to be a KV cache type (the server parses it again when it loads).</summary>
    private static string CacheType(string name, string flag)
    {
        TernCommand.ParseKvType(name, flag);
        return name;
    }

    private static int Check(int value, int min, int max, string flag) =>
        value >= min && value <= max ? value : throw new ArgumentException($"{flag} must be between {min} and {max}, got {value}");
}
