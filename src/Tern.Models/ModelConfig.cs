using System.Globalization;
using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models;

/// <summary>The shape of a decoder-only transformer, read from <c>&lt;arch&gt;.*</c> GGUF metadata.</summary>
public sealed record ModelConfig
{
    public required string Architecture { get; init; }
    public required int ContextLength { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }
    public required int HeadDim { get; init; }
    public required int RopeDimensionCount { get; init; }
    public required float RopeFreqBase { get; init; }
    public required float RmsEpsilon { get; init; }
    public required int VocabSize { get; init; }
    public int ExpertCount { get; init; }
    public int ExpertUsedCount { get; init; }
    /// <summary>Hidden width of one expert (<c>expert_feed_forward_length</c>; the dense width when absent).</summary>
    public int ExpertFeedForwardLength { get; init; }

    /// <summary>Hidden width of the shared expert beside the routed ones (<c>expert_shared_feed_forward_length</c>; 0 for none).</summary>
    public int SharedExpertFeedForwardLength { get; init; }

    /// <summary>Positions a sliding-window layer attends to, its own included (<c>attention.sliding_window</c>); 0 when the file sets none.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Every how many layers one attends globally (<c>attention.sliding_window_pattern</c>), when the file says.</summary>
    public int? SlidingWindowPattern { get; init; }

    /// <summary>RoPE base of the sliding-window layers (<c>rope.freq_base_swa</c>, else 10,000).</summary>
    public float RopeFreqBaseSwa { get; init; } = 10000f;

    /// <summary>Logits are soft-capped to ±this (<c>final_logit_softcapping</c>, gemma4), or null for none.</summary>
    public float? FinalLogitSoftcap { get; init; }

    /// <summary>One spec per layer: its mixer (with its own heads, head size, window and RoPE) and its feed-forward.</summary>
    public required IReadOnlyList<LayerSpec> Layers { get; init; }

    /// <summary>Width of one token's keys (or values) across all KV heads.</summary>
    public int KvDim => HeadCountKv * HeadDim;

    /// <summary>Bytes of one sequence's recurrent state (conv and DeltaNet matrices of every recurrent layer, F32).</summary>
    public long RecurrentBytesPerSequence => Layers.Sum(l => l.DeltaNet is { } d ? (d.ConvStateFloats + (long)d.RecurrentStateFloats) * sizeof(float) : 0);

    /// <summary>
    /// What one sequence of <paramref name="tokens"/> positions holds: keys and values of every attention layer (a
    /// sliding-window layer at most its window and one block more), and the recurrent state.
    /// </summary>
    public (long KvBytes, long RecurrentBytes) SessionMemory(long tokens, GgmlType keyType = GgmlType.F16, GgmlType valueType = GgmlType.F16, int blockTokens = 32)
    {
        long kv = 0;
        foreach (var a in Layers.Select(l => l.Attention).OfType<AttentionSpec>())
        {
            long held = a.Window > 0 ? Math.Min(tokens, a.Window + blockTokens) : tokens;
            kv += held * a.KvHeads * (KvRows.RowBytes(keyType, a.HeadDim) + KvRows.RowBytes(valueType, a.HeadDim));
        }

        return (kv, RecurrentBytesPerSequence);
    }

    /// <summary>Width of one token's queries across all heads.</summary>
    public int QDim => HeadCount * HeadDim;

    /// <summary>
    /// Reads the hyperparameters and checks each against the tensors the file holds (the token embeddings fix the
    /// width and vocabulary, the blk.N tensors the block count, the first block's projections the head sizes) and
    /// against sane ranges, before anything is sized by them: a hostile value is a <see cref="ModelLoadException"/>
    /// naming the key and the value.
    /// </summary>
    public static ModelConfig FromGguf(GgufFile file)
    {
        var meta = new ModelMetadata(file);
        string arch = meta.String("general.architecture") ?? throw meta.Missing("general.architecture");
        string Key(string name) => $"{arch}.{name}";

        if (!file.TryGetTensor("token_embd.weight", out var embedding))
            throw new ModelLoadException(file.Path, "tensor token_embd.weight is missing");
        if (embedding.Dimensions.Length != 2 || embedding.Dimensions[1] > int.MaxValue)
            throw new ModelLoadException(file.Path, $"tensor token_embd.weight has shape {embedding.Shape}; expected [n_embd, n_vocab]");
        int vocab = (int)embedding.Dimensions[1];
        int embd = meta.RequiredCount(Key("embedding_length"), 1);
        meta.MustMatch(Key("embedding_length"), embd, "token_embd.weight", 0);
        if (meta.Count(Key("vocab_size"), 1) is { } vocabSize)
            meta.MustMatch(Key("vocab_size"), vocabSize, "token_embd.weight", 1);
        CheckVocabulary(meta, vocab);

        int blocks = meta.RequiredCount(Key("block_count"), 1);
        long present = BlocksPresent(file);
        if (blocks != present)
            throw meta.Error(Key("block_count"), present == 0 ? "the file has no blk.N tensors" : $"the file has tensors for {present} blocks (blk.0 to blk.{present - 1})");

        int heads = meta.RequiredCount(Key("attention.head_count"), 1);
        bool perLayer = arch == "gemma4"; // KV heads, head sizes and the sliding pattern per layer: Gemma4.Configure
        int? keyLength = meta.Count(Key("attention.key_length"), 1);
        if (keyLength is null && embd % heads != 0)
            throw meta.Error(Key("attention.head_count"), $"{Key("embedding_length")} {embd} does not split into that many heads");
        int headDim = keyLength ?? embd / heads;
        int kvHeads = perLayer ? heads : meta.Count(Key("attention.head_count_kv"), 1, heads, "head_count") ?? heads;
        if (heads % kvHeads != 0)
            throw meta.Error(Key("attention.head_count_kv"), $"{Key("attention.head_count")} {heads} is not a multiple of it");
        string headKey = Key(keyLength is null ? "attention.head_count" : "attention.key_length");
        long qDim = (long)heads * headDim, kvDim = (long)kvHeads * headDim;
        if (!perLayer)
        {
            meta.MustMatch(headKey, qDim, "blk.0.attn_q.weight", 1, $"{heads} heads × head size {headDim} = {qDim} query rows");
            meta.MustMatch(Key("attention.head_count_kv"), kvDim, "blk.0.attn_k.weight", 1, $"{kvHeads} KV heads × head size {headDim} = {kvDim} key rows");
        }
        if (qDim > int.MaxValue)
            throw meta.Error(headKey, $"{heads} heads × head size {headDim} = {qDim} query rows is too many");
        // After the key length is checked against the query rows, so that a wrong key length is the key named.
        if (meta.Count(Key("attention.value_length"), 1) is { } valueLength && valueLength != headDim)
            throw meta.Error(Key("attention.value_length"), $"Tern needs it equal to the key length {headDim}");

        // 0 where no layer has a dense feed-forward (qwen35moe: experts only).
        int feedForward = meta.RequiredCount(Key("feed_forward_length"), file.TryGetTensor("blk.0.ffn_up.weight", out _) ? 1 : 0);
        meta.MustMatch(Key("feed_forward_length"), feedForward, "blk.0.ffn_up.weight", 1);
        int? expertKey = meta.Count(Key("expert_feed_forward_length"), 1);
        int expertFeedForward = expertKey ?? feedForward;
        meta.MustMatch(Key(expertKey is null ? "feed_forward_length" : "expert_feed_forward_length"), expertFeedForward, "blk.0.ffn_up_exps.weight", 1);
        int experts = meta.Count(Key("expert_count"), 0) ?? 0;
        meta.MustMatch(Key("expert_count"), experts, "blk.0.ffn_gate_exps.weight", 2);
        int used = meta.Count(Key("expert_used_count"), experts > 0 ? 1 : 0, experts, "expert_count") ?? 0;
        if (experts > 0 && used == 0)
            throw meta.Missing(Key("expert_used_count"));

        int ropeDims = meta.Count(Key("rope.dimension_count"), 2, headDim, "the head size") ?? headDim;
        if (ropeDims % 2 != 0)
            throw meta.Error(Key("rope.dimension_count"), "must be even");

        // Sliding-window attention: no tensor carries the window, so only ranges are checked. The window and the
        // period are at least 1 (a period above block_count makes every layer slide, as in llama.cpp).
        int window = meta.Count(Key("attention.sliding_window"), 1) ?? 0;
        int? pattern = perLayer ? null : meta.Count(Key("attention.sliding_window_pattern"), 1);
        float ropeBaseSwa = meta.Positive(Key("rope.freq_base_swa"), 10000f);

        var rope = new RopeSpec(ropeDims, meta.Positive(Key("rope.freq_base"), 10000f));
        var ropeSwa = rope with { Base = ropeBaseSwa };
        int period = SlidingPeriod(arch, pattern);
        var ffn = experts > 0 ? FeedForwardKind.Experts : FeedForwardKind.Dense;
        int sharedFeedForward = meta.Count(Key("expert_shared_feed_forward_length"), 1) ?? 0;
        meta.MustMatch(Key("expert_shared_feed_forward_length"), sharedFeedForward, "blk.0.ffn_up_shexp.weight", 1);
        var deltaNet = arch == "qwen35moe" ? ReadDeltaNet(meta, arch) : null;
        int attentionEvery = deltaNet is null ? 1 : meta.Count(Key("full_attention_interval"), 1, blocks, "block_count") ?? 4;
        var layers = new LayerSpec[blocks];
        for (int i = 0; i < blocks; i++)
        {
            bool sliding = window > 0 && period > 0 && i % period < period - 1;
            var attention = new AttentionSpec(heads, kvHeads, headDim, sliding ? ropeSwa : rope, sliding ? window : 0);
            layers[i] = new LayerSpec(i, (i + 1) % attentionEvery == 0 ? attention : deltaNet!, ffn);
        }

        var config = new ModelConfig
        {
            Layers = layers,
            Architecture = arch,
            ContextLength = meta.Count(Key("context_length"), 1) ?? 2048,
            EmbeddingLength = embd,
            BlockCount = blocks,
            FeedForwardLength = feedForward,
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            RopeDimensionCount = ropeDims,
            RopeFreqBase = rope.Base,
            RmsEpsilon = meta.Positive(Key("attention.layer_norm_rms_epsilon"), 1e-5f, below: 1),
            VocabSize = vocab,
            ExpertCount = experts,
            ExpertUsedCount = used,
            ExpertFeedForwardLength = expertFeedForward,
            SharedExpertFeedForwardLength = sharedFeedForward,
            SlidingWindow = window,
            SlidingWindowPattern = pattern,
            RopeFreqBaseSwa = ropeBaseSwa,
        };
        return perLayer ? Gemma4.Configure(meta, config) : config;
    }

    /// <summary>
    /// The Gated DeltaNet layers' shape (<c>ssm.*</c>): conv kernel, key heads (<c>group_count</c>) of
    /// <c>state_size</c>, value heads (<c>time_step_rank</c>) sharing <c>inner_size</c>; checked against the first
    /// layer's conv and projection tensors.
    /// </summary>
    private static DeltaNetSpec ReadDeltaNet(ModelMetadata meta, string arch)
    {
        string Key(string name) => $"{arch}.ssm.{name}";
        int kernel = meta.RequiredCount(Key("conv_kernel"), 2);
        int keyDim = meta.RequiredCount(Key("state_size"), 1);
        int keyHeads = meta.RequiredCount(Key("group_count"), 1);
        int valueHeads = meta.RequiredCount(Key("time_step_rank"), 1);
        int inner = meta.RequiredCount(Key("inner_size"), 1);
        if (inner % valueHeads != 0)
            throw meta.Error(Key("inner_size"), $"does not split into {valueHeads} value heads ({Key("time_step_rank")})");
        if (valueHeads % keyHeads != 0)
            throw meta.Error(Key("group_count"), $"{valueHeads} value heads ({Key("time_step_rank")}) are not a multiple of it");
        if ((long)keyHeads * keyDim > 1 << 20 || (long)inner * keyDim > 1 << 28)
            throw meta.Error(Key("state_size"), $"a recurrent state of {inner} × {keyDim} is too large");
        var spec = new DeltaNetSpec(kernel, keyHeads, valueHeads, keyDim, inner / valueHeads);
        meta.MustMatch(Key("conv_kernel"), kernel, "blk.0.ssm_conv1d.weight", 0);
        meta.MustMatch(Key("state_size"), spec.ConvChannels, "blk.0.ssm_conv1d.weight", 1, $"2 × {keyHeads} key heads × {keyDim} + {inner} = {spec.ConvChannels} conv channels");
        meta.MustMatch(Key("inner_size"), inner, "blk.0.attn_gate.weight", 1);
        meta.MustMatch(Key("time_step_rank"), valueHeads, "blk.0.ssm_a", 0);
        return spec;
    }

    /// <summary>Every how many layers one attends globally, the others over the sliding window (0: no layer
    /// slides). Only architectures that have sliding-window layers use the window; gemma3 defaults to 6, as
    /// llama.cpp (layers 5, 11, 17, ... are global); a period above the block count makes every layer slide.</summary>
    private static int SlidingPeriod(string arch, int? pattern) => arch switch
    {
        "gemma3" => pattern ?? 6,
        _ => 0,
    };

    /// <summary>The highest N of the file's blk.N.* tensors, plus one (0 when there are none).</summary>
    private static long BlocksPresent(GgufFile file)
    {
        long count = 0;
        foreach (var t in file.Tensors)
        {
            var name = t.Name.AsSpan();
            if (!name.StartsWith("blk.", StringComparison.Ordinal))
                continue;
            name = name[4..];
            int dot = name.IndexOf('.');
            if (int.TryParse(dot < 0 ? name : name[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                count = Math.Max(count, n + 1L);
        }
        return count;
    }

    /// <summary>The tokenizer's ids must address the embedding rows: as many tokens as rows, BOS and EOS among them.</summary>
    private static void CheckVocabulary(ModelMetadata meta, int vocab)
    {
        const string tokens = "tokenizer.ggml.tokens";
        if (meta.File[tokens] is { Value: GgufArray { Count: var count } } && count != vocab)
            throw new ModelLoadException(meta.File.Path, $"{tokens} has {count} tokens, but token_embd.weight embeds {vocab}");
        foreach (string key in (ReadOnlySpan<string>)["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"])
            meta.Count(key, 0, vocab - 1, "the vocabulary's last id");
    }
}
