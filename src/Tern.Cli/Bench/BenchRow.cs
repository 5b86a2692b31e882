using Tern.Gguf;

namespace Tern.Cli.Bench;

/// <summary>What every row of one invocation shares: the model and the thread count.</summary>
internal sealed record RunInfo(string File, string Type, int Threads, int ContextLength)
{
    public string Model => Path.GetFileNameWithoutExtension(File);
}

/// <summary>One test: pp (Prompt tokens as one batch) or tg (Generate tokens, Parallel sequences at once), after
/// Depth tokens already in a KV cache of the given key and value types.</summary>
internal sealed record BenchTest(GgmlType KeyType, GgmlType ValueType, int Depth, int Prompt, int Generate, int Parallel)
{
    public string Name => (Prompt > 0 ? $"pp{Prompt}" : $"tg{Generate}") + (Depth > 0 ? $" @ d{Depth}" : "") + (Parallel > 1 ? $" x{Parallel}" : "");

    /// <summary>Tokens one sequence adds to the depth.</summary>
    public int Tokens => Prompt > 0 ? Prompt : Generate;

    /// <summary>Positions one sequence reaches: compared with the model's trained context.</summary>
    public int Positions => Depth + Tokens;

    public string TypeK => TypeName(KeyType);
    public string TypeV => TypeName(ValueType);

    public bool HasQuantizedCache => KeyType != GgmlType.F16 || ValueType != GgmlType.F16;

    /// <summary>llama.cpp's lowercase type names: f16, q8_0, q4_0.</summary>
    public static string TypeName(GgmlType type) => type.ToString().ToLowerInvariant();
}

/// <summary>
/// One finished test. Mean, StdDev and Samples are aggregate tokens/s over all sequences (= per sequence when
/// Parallel is 1). TokensPerJoule is null when the energy counters are unreadable; CompareTs is the other engine's
/// aggregate tokens/s for the same test (null: no match or no --compare).
/// </summary>
internal sealed record BenchRow(RunInfo Info, BenchTest Test, double Mean, double StdDev, double[] Samples, long RssBytes,
    long KvBytes, double? TokensPerJoule, double? CompareTs = null)
{
    /// <summary>Bytes of the sequences' recurrent state (hybrid models; 0 for others).</summary>
    public long RecurrentBytes { get; init; }

    public double? CompareRatio => CompareTs is > 0 ? Mean / CompareTs : null;

    /// <summary>tg tests: bytes one decoding step reads (the weights once, each sequence's KV cache at the test's
    /// middle position); 0 for pp tests.</summary>
    public long StepBytes { get; init; }

    /// <summary>The machine's measured read bandwidth in GB/s (`--bandwidth`), else null.</summary>
    public double? ReadGBps { get; init; }

    /// <summary>tg tests: <see cref="StepBytes"/> × decoding steps per second, in GB/s.</summary>
    public double? EffectiveGBps => StepBytes > 0 ? StepBytes * (Mean / Test.Parallel) / 1e9 : null;

    /// <summary>tg tests with a measured bandwidth: <see cref="EffectiveGBps"/> / <see cref="ReadGBps"/>.</summary>
    public double? BandwidthShare => EffectiveGBps is { } e && ReadGBps is > 0 ? e / ReadGBps : null;

    /// <summary>llama-bench's JSON field names where the concept is the same, then Tern's own.</summary>
    public Dictionary<string, object?> Fields(bool compare)
    {
        var fields = new Dictionary<string, object?>
        {
            ["model_filename"] = Info.File,
            ["model_type"] = Info.Type,
            ["n_threads"] = Info.Threads,
            ["type_k"] = Test.TypeK,
            ["type_v"] = Test.TypeV,
            ["n_prompt"] = Test.Prompt,
            ["n_gen"] = Test.Generate,
            ["n_depth"] = Test.Depth,
            ["n_parallel"] = Test.Parallel,
            ["aggregate_ts"] = Math.Round(Mean, 3),
            ["test"] = Test.Name,
            ["avg_ts"] = Math.Round(Mean / Test.Parallel, 3),
            ["stddev_ts"] = Math.Round(StdDev / Test.Parallel, 3),
            ["samples_ts"] = Samples.Select(s => Math.Round(s / Test.Parallel, 3)).ToArray(),
            ["rss_bytes"] = RssBytes,
            ["kv_bytes"] = KvBytes,
            ["recurrent_bytes"] = RecurrentBytes,
            ["tokens_per_joule"] = TokensPerJoule is { } tpj ? Math.Round(tpj, 3) : null,
            ["step_bytes"] = StepBytes > 0 ? StepBytes : null,
            ["effective_gbps"] = EffectiveGBps is { } gbps ? Math.Round(gbps, 2) : null,
            ["read_gbps"] = ReadGBps is { } read ? Math.Round(read, 2) : null,
            ["bandwidth_share"] = BandwidthShare is { } share ? Math.Round(share, 3) : null,
        };
        if (compare)
            fields["compare_ratio"] = CompareRatio is { } ratio ? Math.Round(ratio, 3) : null;
        return fields;
    }
}
