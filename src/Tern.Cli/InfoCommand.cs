using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tern.Gguf;
using Tern.Models;
using Tern.Runtime.Sampling;

namespace Tern.Cli;

/// <summary>`tern info [FILE]`: metadata and tensor table of a GGUF file.</summary>
public static class InfoCommand
{
    private const int MaxArrayItemsShown = 8;

    public static Command Create(TextWriter stdout)
    {
        var file = new Argument<string?>("file") { Description = "GGUF file (default: the embedded model)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("info", "Show a GGUF file's metadata and tensors.") { file };
        command.SetAction(parse =>
        {
            using var gguf = GgufSplit.Open(TernCommand.ResolveModel(parse.GetValue(file)));
            Print(gguf, Console(stdout));
            return 0;
        });
        return command;
    }

    public static IAnsiConsole Console(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = ReferenceEquals(writer, System.Console.Out) && !System.Console.IsOutputRedirected ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = ColorSystemSupport.Detect,
        });
        if (!ReferenceEquals(writer, System.Console.Out) || System.Console.IsOutputRedirected)
            console.Profile.Width = 160;
        return console;
    }

    public static void Print(GgufFile gguf, IAnsiConsole console)
    {
        long totalBytes = gguf.Tensors.Sum(t => t.ByteCount);
        long parameters = gguf.Tensors.Sum(t => t.ElementCount);
        console.WriteLine($"file: {gguf.Path}");
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"GGUF v{gguf.Version}, {gguf.Metadata.Count} metadata keys, {gguf.Tensors.Count} tensors, {parameters:N0} parameters, {FormatBytes(totalBytes)} of tensor data, alignment {gguf.Alignment}"));

        PrintModelSummary(gguf, console, parameters);

        var metadata = new Table().Border(TableBorder.Simple).AddColumn("key").AddColumn("type").AddColumn("value");
        foreach (var (key, value) in gguf.Metadata)
            metadata.AddRow(new Text(key), new Text(TypeName(value)), new Text(Describe(value)));
        console.Write(metadata);

        var tensors = new Table().Border(TableBorder.Simple)
            .AddColumn("tensor").AddColumn("type").AddColumn("shape").AddColumn(new TableColumn("bytes").RightAligned());
        foreach (var t in gguf.Tensors)
            tensors.AddRow(new Text(t.Name), new Text(t.Type.ToString()), new Text(t.Shape), new Text(t.ByteCount.ToString(CultureInfo.InvariantCulture)));
        console.Write(tensors);
    }

    /// <summary>What a user wants to know before running the file: shape, size, chat template, sampling defaults.</summary>
    private static void PrintModelSummary(GgufFile gguf, IAnsiConsole console, long parameters)
    {
        string? architecture = gguf.GetString("general.architecture");
        try
        {
            var h = ModelConfig.FromGguf(gguf);
            string experts = h.ExpertCount > 0 ? $", {h.ExpertCount} experts ({h.ExpertUsedCount} used)" : "";
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"model: {h.Architecture}, {h.BlockCount} layers, n_embd {h.EmbeddingLength}, {h.HeadCount} heads ({h.HeadCountKv} KV), n_ff {h.FeedForwardLength}{experts}, vocab {h.VocabSize}, context {h.ContextLength}"));
            PrintLayers(h, console);
            PrintSessionMemory(h, console);
        }
        catch (ModelLoadException e)
        {
            console.WriteLine($"model: not runnable ({e.Problem})");
        }

        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"size: {parameters:N0} parameters ({FormatCount(parameters)}), {FormatBytes(gguf.Parts.Sum(p => p.FileSize))} on disk"));
        string? template = gguf.GetString("tokenizer.chat_template");
        console.WriteLine(template is null ? "chat template: none (chat would fall back to ChatML)" : $"chat template: yes ({template.Length:N0} chars)");
        if (architecture is not null)
            console.WriteLine($"default sampling: {DefaultSamplingText(gguf)}");
    }

    /// <summary>The layer mix when the layers differ: how many of each kind (mixer, heads, window).</summary>
    private static void PrintLayers(ModelConfig h, IAnsiConsole console)
    {
        var kinds = h.Layers.GroupBy(l => l.Mixer switch
        {
            AttentionSpec { Window: > 0 } a => $"sliding-window attention ({a.Window}), {a.Heads} heads ({a.KvHeads} KV) of {a.HeadDim}",
            AttentionSpec a => $"full attention, {a.Heads} heads ({a.KvHeads} KV) of {a.HeadDim}",
            DeltaNetSpec d => $"Gated DeltaNet, {d.ValueHeads} value heads ({d.KeyHeads} key) of {d.HeadKeyDim}",
            _ => "other",
        }).ToList();
        if (kinds.Count > 1)
            console.WriteLine("layers: " + string.Join("; ", kinds.Select(k => $"{k.Count()} × {k.Key}")));
    }

    /// <summary>Memory one session holds at typical context lengths (F16 KV), the recurrent state apart.</summary>
    private static void PrintSessionMemory(ModelConfig h, IAnsiConsole console)
    {
        var parts = new[] { 8192, 32768, 131072, 204800 }.Select(tokens =>
        {
            var (kv, recurrent) = h.SessionMemory(tokens);
            return $"{tokens / 1024}k {FormatBytes(kv + recurrent)}";
        });
        const int deep = 1 << 20; // past every window: what one more token adds
        long perToken = h.SessionMemory(deep + 1).KvBytes - h.SessionMemory(deep).KvBytes;
        string recurrentText = h.RecurrentBytesPerSequence > 0 ? $", recurrent state {FormatBytes(h.RecurrentBytesPerSequence)}" : "";
        console.WriteLine($"memory per session (F16 KV): {string.Join(", ", parts)} (KV grows {FormatBytes(perToken)} per token{recurrentText})");
    }

    private static string DefaultSamplingText(GgufFile gguf)
    {
        try
        {
            string summary = DefaultSampling.Describe(DefaultSampling.For(gguf));
            return RecommendedSampling.IsPresent(gguf) ? $"{summary} (recommended by the file)" : summary;
        }
        catch (ModelLoadException e)
        {
            return $"not usable ({e.Problem})";
        }
    }

    private static string FormatCount(long n) => n switch
    {
        >= 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e9:F2} B"),
        >= 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e6:F2} M"),
        >= 1_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e3:F1} K"),
        _ => n.ToString(CultureInfo.InvariantCulture),
    };

    private static string TypeName(GgufValue value) =>
        value.Value is GgufArray a ? $"array[{a.ElementType}]" : value.Type.ToString();

    private static string Describe(GgufValue value)
    {
        if (value.Value is not GgufArray array)
            return Shorten(value.ToString());
        var shown = array.Items.Cast<object>().Take(MaxArrayItemsShown)
            .Select(item => item is GgufArray inner ? $"[{inner.Count} items]" : Shorten(GgufValueText(item), 24));
        string more = array.Count > MaxArrayItemsShown ? $", ... ({array.Count} items)" : "";
        return "[" + string.Join(", ", shown) + more + "]";
    }

    private static string GgufValueText(object item) => item switch
    {
        string s => $"\"{s}\"",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => item.ToString() ?? "",
    };

    private static string Shorten(string s, int max = 100)
    {
        s = s.ReplaceLineEndings("\\n");
        return s.Length <= max ? s : string.Concat(s.AsSpan(0, max), $"... ({s.Length} chars)");
    }

    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F2} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F2} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        _ => $"{bytes} B",
    };
}
