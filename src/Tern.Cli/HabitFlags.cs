using System.CommandLine;

namespace Tern.Cli;

/// <summary>
/// Flags people type from llama.cpp habit that mean nothing for Tern: accepted, with a one-line note saying why, so
/// a copied command line runs instead of failing on <c>-ngl 99</c> (which would otherwise parse as <c>-n -g -l</c>).
/// </summary>
internal static class HabitFlags
{
    /// <summary>Adds <c>-ngl</c>, <c>-fa</c> and <c>--jinja</c> to <paramref name="command"/>; returns what prints their notes.</summary>
    public static Action<ParseResult, TextWriter> AddTo(Command command)
    {
        var gpuLayers = new Option<string?>("--n-gpu-layers", "-ngl", "--gpu-layers") { Description = "accepted for llama.cpp habit: Tern runs on the CPU" };
        var flashAttention = new Option<string?>("--flash-attn", "-fa") { Description = "accepted for llama.cpp habit: attention is always fused", Arity = ArgumentArity.ZeroOrOne };
        var jinja = new Option<bool>("--jinja") { Description = "accepted for llama.cpp habit: chat templates are always Jinja" };
        command.Options.Add(gpuLayers);
        command.Options.Add(flashAttention);
        command.Options.Add(jinja);
        return (parse, log) =>
        {
            if (parse.GetResult(gpuLayers) is not null)
                log.WriteLine("note: -ngl is ignored: Tern runs on the CPU (its own SIMD kernels), there are no layers to offload");
            if (parse.GetResult(flashAttention) is not null)
                log.WriteLine("note: -fa is ignored: Tern's attention is always fused (online softmax over KV blocks)");
            if (parse.GetValue(jinja))
                log.WriteLine("note: --jinja is the default: chat templates always run through Tern's Jinja interpreter");
        };
    }
}
