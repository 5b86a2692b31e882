using Tern.Gguf;
using Tern.Kernels;

namespace Tern.Models.Synthesis;

/// <summary>
/// A random-weight model of a real model's shape, written as a GGUF file that llama.cpp and Tern both load: the
/// hyperparameter keys llama.cpp reads, a made-up tokenizer of the right size, and every tensor with llama.cpp's
/// names and shapes, typed as llama-quantize would (<see cref="TensorTypePolicy"/>). Weights are made and quantized
/// row by row while the file is written, on all cores, so memory stays small whatever the model's size; rows of large
/// K-quant tensors are drawn from a pool of quantized random blocks (<see cref="QuantizedBlockPool"/>). Values: normal
/// with std 0.02 (ternary ±0.02 in bitnet's layer matrices), norms 1; fixed by (seed, tensor name, row), so the same
/// seed writes the same bytes and fewer layers keep the same weights in the layers that remain.
/// </summary>
public sealed class SyntheticModel
{
    private const long ChunkBytes = 8 << 20; // output bytes made per parallel step

    private readonly List<string> _notes = [];
    private readonly Dictionary<(GgmlType, bool), QuantizedBlockPool> _pools = [];

    public SyntheticModel(ModelShape shape, SynthesisType type, ulong seed = 1, bool pure = false)
    {
        Validate(shape);
        Shape = shape;
        Type = type;
        Seed = seed;
        Pure = pure;
        Tensors = Plan();
    }

    /// <summary>
    /// A model of the named shape (<see cref="ModelShapes"/>) in the named type (<see cref="SynthesisTypes"/>; the
    /// shape's default if null), optionally with fewer layers or another context length.
    /// </summary>
    public static SyntheticModel Create(string shapeName, string? typeName = null, int? layers = null, int? contextLength = null, ulong seed = 1, bool pure = false)
    {
        var shape = ModelShapes.Get(shapeName);
        if (layers is { } n)
            shape = n >= 1 ? shape with { BlockCount = n } : throw new SynthesisException($"--layers must be at least 1, not {n}");
        if (contextLength is { } c)
            shape = c >= 1 ? shape with { ContextLength = c } : throw new SynthesisException($"--context must be at least 1, not {c}");
        return new SyntheticModel(shape, SynthesisTypes.Get(typeName ?? shape.DefaultType), seed, pure);
    }

    public ModelShape Shape { get; }

    public SynthesisType Type { get; }

    public ulong Seed { get; }

    /// <summary>Every matrix in the requested type (llama-quantize --pure), not llama-quantize's mix.</summary>
    public bool Pure { get; }

    /// <summary>In file order: token_embd, the blocks in forward order, output_norm, output (unless tied).</summary>
    public IReadOnlyList<SyntheticTensor> Tensors { get; }

    /// <summary>Where the file departs from the requested type and why (fallbacks for odd row lengths).</summary>
    public IReadOnlyList<string> Notes => _notes;

    public long TensorBytes => Tensors.Sum(t => t.ByteCount);

    public long ParameterCount => Tensors.Sum(t => t.RowLength * t.RowCount);

    /// <summary>
    /// A writer holding the metadata and, for each tensor, a callback that makes its data when the file is written.
    /// <paramref name="progress"/> gets the tensor bytes written so far, from the writing thread.
    /// </summary>
    public GgufWriter CreateWriter(Action<long>? progress = null)
    {
        var writer = new GgufWriter();
        foreach (var (key, value) in CreateMetadata())
            writer.Add(key, value);
        long written = 0;
        foreach (var t in Tensors)
        {
            writer.AddTensor(t.Name, t.Dimensions, t.Type, s => WriteTensor(t, s, n =>
            {
                written += n;
                progress?.Invoke(written);
            }));
        }
        return writer;
    }

    /// <summary>Writes the file atomically (a temporary file renamed into place).</summary>
    public void WriteFile(string path, Action<long>? progress = null) => CreateWriter(progress).WriteFile(path);

    /// <summary>
    /// The GGUF metadata: the hyperparameter keys llama.cpp reads for the architecture, general.file_type as
    /// llama-quantize writes it, and the tokenizer (<see cref="SyntheticVocabulary"/>).
    /// </summary>
    public List<KeyValuePair<string, GgufValue>> CreateMetadata()
    {
        var s = Shape;
        string a = s.Architecture;
        List<KeyValuePair<string, GgufValue>> m =
        [
            new("general.architecture", GgufValue.From(a)),
            new("general.name", GgufValue.From(s.Name)),
            new("general.description", GgufValue.From($"random weights (seed {Seed}) in the shape of {s.Name}, written by tern synth")),
            new($"{a}.context_length", GgufValue.From((uint)s.ContextLength)),
            new($"{a}.embedding_length", GgufValue.From((uint)s.EmbeddingLength)),
            new($"{a}.block_count", GgufValue.From((uint)s.BlockCount)),
            new($"{a}.feed_forward_length", GgufValue.From((uint)s.FeedForwardLength)),
            new($"{a}.attention.head_count", GgufValue.From((uint)s.HeadCount)),
            new($"{a}.attention.head_count_kv", GgufValue.From((uint)s.HeadCountKv)),
            new($"{a}.rope.dimension_count", GgufValue.From((uint)s.RopeDims)),
            new($"{a}.rope.freq_base", GgufValue.From(s.RopeFreqBase)),
            new($"{a}.attention.layer_norm_rms_epsilon", GgufValue.From(s.RmsEpsilon)),
            new($"{a}.vocab_size", GgufValue.From((uint)s.VocabSize)),
            new("general.file_type", GgufValue.From((uint)Type.FileType)),
            new("general.quantization_version", GgufValue.From(2u)),
        ];
        if (s.KeyLength is { } headDim)
        {
            m.Add(new($"{a}.attention.key_length", GgufValue.From((uint)headDim)));
            m.Add(new($"{a}.attention.value_length", GgufValue.From((uint)headDim)));
        }
        if (s.ExpertCount > 0)
        {
            m.Add(new($"{a}.expert_count", GgufValue.From((uint)s.ExpertCount)));
            m.Add(new($"{a}.expert_used_count", GgufValue.From((uint)s.ExpertUsedCount)));
            m.Add(new($"{a}.expert_feed_forward_length", GgufValue.From((uint)s.ExpertFeedForwardLength)));
        }
        if (s.Sliding is { } w)
        {
            // per-layer KV heads replace the scalar; the sliding layers' own sizes and RoPE base
            m.RemoveAll(kv => kv.Key == $"{a}.attention.head_count_kv");
            var layers = Enumerable.Range(0, s.BlockCount);
            m.Add(new($"{a}.attention.head_count_kv", GgufValue.From(new GgufArray(GgufValueType.Int32, layers.Select(i => s.IsSliding(i) ? w.KvHeads : s.HeadCountKv).ToArray()))));
            m.Add(new($"{a}.attention.sliding_window_pattern", GgufValue.From(new GgufArray(GgufValueType.Bool, layers.Select(s.IsSliding).ToArray()))));
            m.Add(new($"{a}.attention.sliding_window", GgufValue.From((uint)w.Window)));
            m.Add(new($"{a}.attention.key_length_swa", GgufValue.From((uint)w.HeadDim)));
            m.Add(new($"{a}.attention.value_length_swa", GgufValue.From((uint)w.HeadDim)));
            m.Add(new($"{a}.rope.dimension_count_swa", GgufValue.From((uint)w.HeadDim)));
            m.Add(new($"{a}.rope.freq_base_swa", GgufValue.From(w.RopeBase)));
            m.Add(new($"{a}.final_logit_softcapping", GgufValue.From(30f)));
            m.Add(new($"{a}.embedding_length_per_layer_input", GgufValue.From(0u))); // llama.cpp requires it; 0: none
        }
        if (s.SharedExpertFeedForwardLength > 0)
            m.Add(new($"{a}.expert_shared_feed_forward_length", GgufValue.From((uint)s.SharedExpertFeedForwardLength)));
        if (s.DeltaNet is { } d)
        {
            m.Add(new($"{a}.full_attention_interval", GgufValue.From((uint)d.FullAttentionInterval)));
            m.Add(new($"{a}.ssm.conv_kernel", GgufValue.From((uint)d.ConvKernel)));
            m.Add(new($"{a}.ssm.state_size", GgufValue.From((uint)d.StateSize)));
            m.Add(new($"{a}.ssm.group_count", GgufValue.From((uint)d.GroupCount)));
            m.Add(new($"{a}.ssm.time_step_rank", GgufValue.From((uint)d.TimeStepRank)));
            m.Add(new($"{a}.ssm.inner_size", GgufValue.From((uint)d.InnerSize)));
            // llama.cpp's multi-section RoPE for text: sections summing to half the rotated dims (Qwen3.6: 11, 11, 10, 0)
            int third = s.RopeDims / 2 / 3;
            int[] sections = [third + (s.RopeDims / 2 - 3 * third > 0 ? 1 : 0), third + (s.RopeDims / 2 - 3 * third > 1 ? 1 : 0), third, 0];
            m.Add(new($"{a}.rope.dimension_sections", GgufValue.From(new GgufArray(GgufValueType.Int32, sections))));
        }
        m.AddRange(SyntheticVocabulary.Metadata(s));
        return m;
    }

    /// <summary>The architecture's tensors (<see cref="TensorTable"/>), each typed as llama-quantize would.</summary>
    private List<SyntheticTensor> Plan()
    {
        var notes = new List<string>();
        var config = Shape.Config();
        var tensors = TensorTable.Tensors(config, Shape.TiedOutput)
            .Where(t => !t.Optional || Writes(t, config))
            .Select(t => new SyntheticTensor(t.Name, t.Dimensions, TensorTypePolicy.Choose(Type, Shape, t.Role, t.Layer, t.RowLength, Pure, notes), t.Role, t.Layer))
            .ToList();
        _notes.AddRange(notes.Distinct());
        return tensors;
    }

    /// <summary>Which optional tensors a synthetic file holds: gemma4's global layers take their values from their
    /// keys (no attn_v, as the 26B-A4B ships); per-expert scales are written, per-layer output scales are not.</summary>
    private static bool Writes(TensorSpec t, ModelConfig config) => t.Name switch
    {
        _ when t.Name.EndsWith("attn_v.weight", StringComparison.Ordinal) => config.Layers[t.Layer].Attention!.Sliding,
        _ when t.Name.EndsWith("layer_output_scale.weight", StringComparison.Ordinal) => false,
        _ => true,
    };

    private void WriteTensor(SyntheticTensor t, Stream output, Action<long> progress)
    {
        var quant = QuantTypes.Get(t.Type);
        var fromFloat = quant.FromFloat ?? throw new NotSupportedException($"Tern cannot quantize to {t.Type}");
        // small tensors are quantized directly: a pool would cost more than it saves
        bool pooled = QuantizedBlockPool.IsWorthUsing(t.Type) && t.RowLength * t.RowCount / quant.BlockSize > QuantizedBlockPool.BlockCount;
        var pool = pooled ? Pool(quant, IsTernary(t)) : null;
        int rowLength = checked((int)t.RowLength);
        int rowBytes = checked((int)quant.RowBytes(rowLength));
        int rowsPerChunk = (int)Math.Clamp(ChunkBytes / rowBytes, 1, t.RowCount);
        var chunk = new byte[(long)rowsPerChunk * rowBytes];
        ulong key = RandomWeights.TensorKey(t.Name);

        for (long first = 0; first < t.RowCount; first += rowsPerChunk)
        {
            int rows = (int)Math.Min(rowsPerChunk, t.RowCount - first);
            int parts = Math.Min(rows, Environment.ProcessorCount * 4);
            long start = first;
            Parallel.For(0, parts, part =>
            {
                float[] values = pool is null ? new float[rowLength] : [];
                for (int r = rows * part / parts; r < rows * (part + 1) / parts; r++)
                {
                    var bytes = chunk.AsSpan(r * rowBytes, rowBytes);
                    if (pool is not null)
                    {
                        pool.FillRow(Seed, key, start + r, bytes);
                    }
                    else
                    {
                        Fill(t, key, start + r, values);
                        fromFloat(values, bytes);
                    }
                }
            });
            output.Write(chunk, 0, rows * rowBytes);
            progress((long)rows * rowBytes);
        }
    }

    private QuantizedBlockPool Pool(QuantType quant, bool ternary)
    {
        if (!_pools.TryGetValue((quant.Type, ternary), out var pool))
            _pools[(quant.Type, ternary)] = pool = new QuantizedBlockPool(quant, Seed, ternary);
        return pool;
    }

    private bool IsTernary(SyntheticTensor t) => Shape.TernaryWeights && t.IsMatrix && t.Role is not (TensorRole.TokenEmbedding or TensorRole.Output or TensorRole.Router);

    private void Fill(SyntheticTensor t, ulong key, long row, Span<float> values)
    {
        if (t.Role == TensorRole.Norm)
            values.Fill(1.0f);
        else if (t.Role == TensorRole.SsmDecay)
            values.Fill(-1.0f);
        else if (t.Role == TensorRole.RopeFactors)
            Shape.Sliding!.FreqFactors(Shape.HeadDim).CopyTo(values);
        else if (IsTernary(t))
            RandomWeights.Ternary(Seed, key, row, values);
        else
            RandomWeights.Normal(Seed, key, row, values);
    }

    private static void Validate(ModelShape s)
    {
        if (s.EmbeddingLength < 1 || s.BlockCount < 1 || s.HeadCount < 1 || s.HeadCountKv < 1 || (s.FeedForwardLength < 1 && s.DeltaNet is null) || s.ContextLength < 1)
            throw new SynthesisException($"shape {s.Name}: sizes must be positive");
        if ((s.KeyLength is null && s.EmbeddingLength % s.HeadCount != 0) || s.HeadCount % s.HeadCountKv != 0)
            throw new SynthesisException($"shape {s.Name}: n_embd must divide into heads and heads into KV heads");
        if (s.KeyLength < 1 || s.ExpertCount < 0 || (s.ExpertCount > 0 && (s.ExpertUsedCount is < 1 || s.ExpertUsedCount > s.ExpertCount || s.ExpertFeedForwardLength < 1)))
            throw new SynthesisException($"shape {s.Name}: head size and expert counts must be positive, with no more experts used than there are");
    }
}
