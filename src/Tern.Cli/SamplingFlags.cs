using System.CommandLine;
using Tern.Runtime.Sampling;

namespace Tern.Cli;

/// <summary>llama.cpp's sampling flags (--temp, --top-k, --top-p, --min-p, --repeat-penalty, --seed), for run and chat.</summary>
internal static class SamplingFlags
{
    /// <summary>Adds the flags to <paramref name="command"/>; returns what applies them over a model's defaults.</summary>
    public static Func<ParseResult, SamplingParams, SamplingParams> AddTo(Command command)
    {
        var temperature = new Option<float?>("--temp") { Description = "temperature (default: the model family's, see tern info; 0 = greedy)" };
        var topK = new Option<int?>("--top-k") { Description = "keep the K most likely tokens (0: off; default: the model's, see tern info)" };
        var topP = new Option<float?>("--top-p") { Description = "keep the smallest set reaching probability P (1: off; default: the model's)" };
        var minP = new Option<float?>("--min-p") { Description = "drop tokens below P × the top probability (0: off; default: the model's)" };
        var repeatPenalty = new Option<float?>("--repeat-penalty") { Description = "penalty for recently seen tokens (1: off; default: the model's)" };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "random seed (default: random, printed)" };
        foreach (var option in new Option[] { temperature, topK, topP, minP, repeatPenalty, seed })
            command.Options.Add(option);
        return (parse, defaults) => defaults with
        {
            Temperature = parse.GetValue(temperature) ?? defaults.Temperature,
            TopK = parse.GetValue(topK) ?? defaults.TopK,
            TopP = parse.GetValue(topP) ?? defaults.TopP,
            MinP = parse.GetValue(minP) ?? defaults.MinP,
            RepeatPenalty = parse.GetValue(repeatPenalty) ?? defaults.RepeatPenalty,
            Seed = parse.GetValue(seed) ?? (ulong)Random.Shared.NextInt64(),
        };
    }
}
