using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tern.Cli.Hub;

namespace Tern.Cli;

/// <summary>`tern list`: the GGUFs in Tern's model cache and llama.cpp's, with size, architecture, context and last use.</summary>
public static class ListCommand
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("list", "List the cached models (TERN_MODELS, and llama.cpp's LLAMA_CACHE).");
        command.SetAction(_ =>
        {
            var models = CachedModels.All();
            if (models.Count == 0)
                stdout.WriteLine($"no models cached in {ModelCache.Directory()} or {CachedModels.LlamaCppDirectory()}; get one with tern pull OWNER/NAME[:QUANT]");
            else if (ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected)
                WriteTable(models, InfoCommand.Console(stdout));
            else
                foreach (var m in models)
                    stdout.WriteLine(string.Join('\t', Row(m, bytes: true)));
            return 0;
        });
        return command;
    }

    /// <summary>A table of the first six columns; errors, which are long, follow it one a line.</summary>
    private static void WriteTable(IReadOnlyList<CachedModel> models, IAnsiConsole console)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumn(new TableColumn("name").NoWrap())
            .AddColumn(new TableColumn("size").RightAligned().NoWrap()).AddColumn("arch")
            .AddColumn(new TableColumn("context").RightAligned()).AddColumn(new TableColumn("last used").NoWrap()).AddColumn("cache");
        foreach (var m in models)
        {
            var cells = Row(m, bytes: false).Take(6).ToArray();
            if (m.Error is not null)
                cells[2] = "invalid";
            table.AddRow(cells.Select(cell => new Text(cell)).ToArray());
        }
        console.Write(table);
        foreach (var m in models.Where(m => m.Error is not null))
            console.WriteLine($"{m.Name}: {m.Error}");
    }

    /// <summary>name, size, architecture (or the error), context, last used (UTC), cache (tern or llama.cpp), path.</summary>
    private static string[] Row(CachedModel m, bool bytes) =>
    [
        m.Name,
        bytes ? m.Size.ToString(CultureInfo.InvariantCulture) : InfoCommand.FormatBytes(m.Size),
        m.Error is null ? m.Architecture ?? "-" : $"error: {m.Error}",
        m.Context?.ToString(CultureInfo.InvariantCulture) ?? "-",
        m.LastUsedUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
        m.LlamaCpp ? "llama.cpp" : "tern",
        m.Path,
    ];
}
