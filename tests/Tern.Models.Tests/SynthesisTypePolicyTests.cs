using Tern.Gguf;
using Tern.Models.Synthesis;

namespace Tern.Models.Tests;

/// <summary>The tiny shapes match ../shared's llama-quantize outputs, so their tensor types must match too.</summary>
public sealed class SynthesisTypePolicyTests
{
    private static readonly ModelShape LlamaTiny = ModelShapes.Get("tiny");

    private static readonly ModelShape BitnetTiny = ModelShapes.Get("bitnet-2b") with
    {
        Name = "bitnet-tiny", EmbeddingLength = 256, BlockCount = 2, HeadCount = 4, HeadCountKv = 4, FeedForwardLength = 768, VocabSize = 1024,
    };

    private static readonly ModelShape QwenTiny = ModelShapes.Get("qwen2.5-0.5b") with
    {
        Name = "qwen2-tiny", EmbeddingLength = 256, BlockCount = 2, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 768, VocabSize = 1024, TiedOutput = false,
    };

    public static TheoryData<string, string> SharedFiles() => new()
    {
        { "llama-tiny", "f32" }, { "llama-tiny", "f16" }, { "llama-tiny", "bf16" }, { "llama-tiny", "q8_0" }, { "llama-tiny", "q4_0" },
        { "llama-tiny", "q4_1" }, { "llama-tiny", "q5_0" }, { "llama-tiny", "q5_1" }, { "llama-tiny", "q2_k" }, { "llama-tiny", "q3_k_m" },
        { "llama-tiny", "q4_k_m" }, { "llama-tiny", "q5_k_m" }, { "llama-tiny", "q6_k" }, { "llama-tiny", "tq1_0" }, { "llama-tiny", "tq2_0" },
        { "llama-tiny", "iq4_nl" }, { "llama-tiny", "iq4_xs" },
        { "bitnet-tiny", "f32" }, { "bitnet-tiny", "tq1_0" }, { "bitnet-tiny", "tq2_0" },
        { "qwen2-tiny", "f32" }, { "qwen2-tiny", "q8_0" },
    };

    [Theory]
    [MemberData(nameof(SharedFiles))]
    public void Tensor_names_shapes_and_types_match_what_llama_quantize_wrote(string model, string type)
    {
        var shape = model switch { "llama-tiny" => LlamaTiny, "bitnet-tiny" => BitnetTiny, _ => QwenTiny };
        var synthetic = new SyntheticModel(shape, SynthesisTypes.Get(type));
        using var reference = GgufFile.Open(SharedData.Path($"models/{model}-{type}.gguf"));

        var expected = reference.Tensors.Select(t => $"{t.Name} {t.Shape} {t.Type}").Order(StringComparer.Ordinal);
        var actual = synthetic.Tensors.Select(t => $"{t.Name} [{string.Join(", ", t.Dimensions)}] {t.Type}").Order(StringComparer.Ordinal);
        Assert.Equal(expected, actual);
        Assert.Equal(reference.GetInteger("general.file_type"), synthetic.Type.FileType);
        Assert.Empty(synthetic.Notes);
    }

    [Theory]
    [MemberData(nameof(SharedFiles))]
    public void Every_metadata_key_of_the_reference_is_written_with_the_same_value_type(string model, string type)
    {
        var shape = model switch { "llama-tiny" => LlamaTiny, "bitnet-tiny" => BitnetTiny, _ => QwenTiny };
        var synthetic = new SyntheticModel(shape, SynthesisTypes.Get(type));
        using var reference = GgufFile.Open(SharedData.Path($"models/{model}-{type}.gguf"));
        var written = Metadata(synthetic);

        foreach (var (key, value) in reference.Metadata)
        {
            Assert.True(written.TryGetValue(key, out var ours), $"missing {key}");
            Assert.Equal(value.Type, ours.Type);
            if (value.Value is GgufArray array)
                Assert.Equal(array.ElementType, ours.AsArray().ElementType);
            else if (key.StartsWith(shape.Architecture + ".", StringComparison.Ordinal) && key != $"{shape.Architecture}.context_length" && !key.EndsWith("rope.freq_base", StringComparison.Ordinal) && !key.EndsWith("rms_epsilon", StringComparison.Ordinal))
                Assert.Equal(value.ToString(), ours.ToString()); // the sizes; context, rope base and eps are the real models'
        }
    }

    [Fact]
    public void Qwen_rows_of_896_fall_back_as_llama_quantize_does()
    {
        var q4k = SyntheticModel.Create("qwen2.5-0.5b", "q4_k_m", layers: 1);
        Assert.Equal(GgmlType.Q8_0, Type(q4k, "token_embd.weight")); // tied output, 896 % 256 != 0
        Assert.Equal(GgmlType.Q5_0, Type(q4k, "blk.0.attn_q.weight"));
        Assert.Equal(GgmlType.Q8_0, Type(q4k, "blk.0.attn_v.weight")); // Q6_K by the Q4_K_M mix, then the fallback
        Assert.Equal(GgmlType.Q6_K, Type(q4k, "blk.0.ffn_down.weight")); // rows of 4864 = 19 × 256 keep the mix's Q6_K
        Assert.Equal(GgmlType.F32, Type(q4k, "blk.0.attn_q.bias"));
        Assert.Contains("rows of 896 are not a multiple of 256: Q4_K -> Q5_0 (llama-quantize's fallback)", q4k.Notes);

        var tq2 = SyntheticModel.Create("qwen2.5-0.5b", "tq2_0", layers: 1);
        Assert.Equal(GgmlType.Q4_0, Type(tq2, "blk.0.attn_k.weight"));
        Assert.Equal(GgmlType.TQ2_0, Type(tq2, "blk.0.ffn_down.weight"));

        var q2k = SyntheticModel.Create("qwen2.5-0.5b", "q2_k", layers: 1);
        Assert.Equal(GgmlType.IQ4_NL, Type(q2k, "blk.0.ffn_up.weight"));
        Assert.Contains("rows of 896 are not a multiple of 256: Q2_K -> IQ4_NL (llama-quantize's fallback)", q2k.Notes);

        var iq4xs = SyntheticModel.Create("qwen2.5-0.5b", "iq4_xs", layers: 1);
        Assert.Equal(GgmlType.IQ4_NL, Type(iq4xs, "blk.0.attn_q.weight"));

        var q4 = SyntheticModel.Create("qwen2.5-0.5b", "q4_0", layers: 1);
        Assert.Equal(GgmlType.Q8_0, Type(q4, "token_embd.weight")); // Q6_K for the tied output, then the fallback
        Assert.Equal(["rows of 896 are not a multiple of 256: Q6_K -> Q8_0 (llama-quantize's fallback)"], q4.Notes);
    }

    [Fact]
    public void IQ4_mixes_give_Q5_K_to_attn_v_with_four_query_heads_per_kv_head_and_the_first_eighth_of_ffn_down()
    {
        var model = SyntheticModel.Create("llama-8b", "iq4_xs"); // 32 heads over 8 KV heads
        for (int i = 0; i < 32; i++)
        {
            Assert.Equal(GgmlType.Q5_K, Type(model, $"blk.{i}.attn_v.weight"));
            Assert.Equal(i < 4 ? GgmlType.Q5_K : GgmlType.IQ4_XS, Type(model, $"blk.{i}.ffn_down.weight"));
            Assert.Equal(GgmlType.IQ4_XS, Type(model, $"blk.{i}.attn_q.weight"));
        }

        Assert.Equal(GgmlType.Q6_K, Type(model, "output.weight"));
        Assert.Equal(30, model.Type.FileType);
        Assert.Equal(25, SynthesisTypes.Get("iq4_nl").FileType);
    }

    [Fact]
    public void Q4_K_M_gives_more_bits_to_the_first_and_last_eighth_of_attn_v_and_ffn_down()
    {
        var model = SyntheticModel.Create("llama-8b", "q4_k_m");
        // use_more_bits for 32 layers: i < 4, i >= 28, or (i − 4) % 3 == 2
        int[] moreBits = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
        for (int i = 0; i < 32; i++)
        {
            var expected = moreBits.Contains(i) ? GgmlType.Q6_K : GgmlType.Q4_K;
            Assert.Equal(expected, Type(model, $"blk.{i}.attn_v.weight"));
            Assert.Equal(expected, Type(model, $"blk.{i}.ffn_down.weight"));
            Assert.Equal(GgmlType.Q4_K, Type(model, $"blk.{i}.ffn_up.weight"));
        }
        Assert.Equal(GgmlType.Q6_K, Type(model, "output.weight"));
        Assert.Equal(GgmlType.Q4_K, Type(model, "token_embd.weight"));
    }

    [Fact]
    public void Pure_puts_every_matrix_in_the_requested_type()
    {
        var model = SyntheticModel.Create("tiny", "q4_k_m", pure: true);
        Assert.All(model.Tensors.Where(t => t.IsMatrix), t => Assert.Equal(GgmlType.Q4_K, t.Type));
        Assert.All(model.Tensors.Where(t => !t.IsMatrix), t => Assert.Equal(GgmlType.F32, t.Type));
    }

    private static GgmlType Type(SyntheticModel model, string name) => model.Tensors.Single(t => t.Name == name).Type;

    private static Dictionary<string, GgufValue> Metadata(SyntheticModel model)
    {
        // the writer's metadata, read back from a header-only file
        string path = Path.Combine(Path.GetTempPath(), $"tern-synth-meta-{Guid.NewGuid():N}.gguf");
        try
        {
            var writer = new GgufWriter();
            foreach (var (key, value) in MetadataOf(model))
                writer.Add(key, value);
            writer.WriteFile(path);
            using var gguf = GgufFile.Open(path);
            return gguf.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static List<KeyValuePair<string, GgufValue>> MetadataOf(SyntheticModel model) => model.CreateMetadata();
}
