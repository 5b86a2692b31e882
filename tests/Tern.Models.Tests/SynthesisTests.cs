using Tern.Gguf;
using Tern.Kernels;
using Tern.Models.Synthesis;

namespace Tern.Models.Tests;

public sealed class SynthesisTests : IDisposable
{
    private readonly SynthesisTempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string> AllTypes() => new(SynthesisTypes.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Tiny_model_reads_back_with_its_metadata_tensors_and_types(string type)
    {
        var model = SyntheticModel.Create("tiny", type);
        string path = _temp.File($"tiny-{type}.gguf");
        model.WriteFile(path);

        using var gguf = GgufFile.Open(path);
        Assert.Equal("llama", gguf.GetString("general.architecture"));
        Assert.Equal("tiny", gguf.GetString("general.name"));
        Assert.Equal(4096, gguf.GetInteger("llama.context_length"));
        Assert.Equal(256, gguf.GetInteger("llama.embedding_length"));
        Assert.Equal(2, gguf.GetInteger("llama.block_count"));
        Assert.Equal(768, gguf.GetInteger("llama.feed_forward_length"));
        Assert.Equal(4, gguf.GetInteger("llama.attention.head_count"));
        Assert.Equal(2, gguf.GetInteger("llama.attention.head_count_kv"));
        Assert.Equal(64, gguf.GetInteger("llama.rope.dimension_count"));
        Assert.Equal(10000.0, gguf.GetFloat("llama.rope.freq_base"));
        Assert.Equal(1e-5f, (float)gguf.GetFloat("llama.attention.layer_norm_rms_epsilon")!.Value);
        Assert.Equal(1024, gguf.GetInteger("llama.vocab_size"));
        Assert.Equal(SynthesisTypes.Get(type).FileType, gguf.GetInteger("general.file_type"));
        Assert.Equal(2, gguf.GetInteger("general.quantization_version"));
        Assert.Equal("llama", gguf.GetString("tokenizer.ggml.model"));
        Assert.Equal(1024, gguf.GetStringArray("tokenizer.ggml.tokens")!.Length);

        string[] perLayer = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"];
        string[] expectedNames =
        [
            "token_embd.weight", .. perLayer.Select(n => $"blk.0.{n}.weight"), .. perLayer.Select(n => $"blk.1.{n}.weight"),
            "output_norm.weight", "output.weight",
        ];
        Assert.Equal(expectedNames, gguf.Tensors.Select(t => t.Name));
        Assert.Equal([256, 1024], gguf.GetTensor("token_embd.weight").Dimensions);
        Assert.Equal([256, 256], gguf.GetTensor("blk.0.attn_q.weight").Dimensions);
        Assert.Equal([256, 128], gguf.GetTensor("blk.1.attn_k.weight").Dimensions);
        Assert.Equal([256, 128], gguf.GetTensor("blk.1.attn_v.weight").Dimensions);
        Assert.Equal([256, 256], gguf.GetTensor("blk.0.attn_output.weight").Dimensions);
        Assert.Equal([256, 768], gguf.GetTensor("blk.0.ffn_gate.weight").Dimensions);
        Assert.Equal([256, 768], gguf.GetTensor("blk.0.ffn_up.weight").Dimensions);
        Assert.Equal([768, 256], gguf.GetTensor("blk.0.ffn_down.weight").Dimensions);
        Assert.Equal([256], gguf.GetTensor("blk.0.ffn_norm.weight").Dimensions);
        Assert.Equal([256, 1024], gguf.GetTensor("output.weight").Dimensions);
        Assert.Equal(model.Tensors.Select(t => t.Type), gguf.Tensors.Select(t => t.Type));
        Assert.All(gguf.Tensors.Where(t => t.Dimensions.Length == 1), t => Assert.Equal(GgmlType.F32, t.Type));
        Assert.Equal(SynthesisTypes.Get(type).BaseType, gguf.GetTensor("blk.0.attn_q.weight").Type);

        foreach (var t in gguf.Tensors)
        {
            var values = Dequantize(gguf, t);
            if (t.Name.EndsWith("_norm.weight", StringComparison.Ordinal))
            {
                Assert.True(values.All(v => v == 1.0f), t.Name);
                continue;
            }
            Assert.True(values.All(v => float.IsFinite(v) && MathF.Abs(v) < 0.2f), $"{t.Name}: {values.MaxBy(MathF.Abs)}");
            double rms = Math.Sqrt(values.Average(v => (double)v * v));
            Assert.InRange(rms, 0.01, 0.04); // std 0.02 before quantization
        }
    }

    [Theory]
    [InlineData("q4_0")]
    [InlineData("q4_k_m")]
    [InlineData("f16")]
    public void The_same_seed_writes_the_same_bytes_and_another_seed_other_weights(string type)
    {
        string a = _temp.File("a.gguf"), b = _temp.File("b.gguf"), c = _temp.File("c.gguf");
        SyntheticModel.Create("tiny", type, seed: 7).WriteFile(a);
        SyntheticModel.Create("tiny", type, seed: 7).WriteFile(b);
        SyntheticModel.Create("tiny", type, seed: 8).WriteFile(c);

        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        using var first = GgufFile.Open(a);
        using var other = GgufFile.Open(c);
        Assert.Equal(first.FileSize, other.FileSize);
        foreach (var t in first.Tensors.Where(t => t.Dimensions.Length == 2))
            Assert.False(first.GetTensorBytes(t).SequenceEqual(other.GetTensorBytes(other.GetTensor(t.Name))), t.Name);
    }

    [Fact]
    public void Large_k_quant_tensors_are_assembled_from_a_seeded_pool_of_real_blocks()
    {
        // token_embd and output hold 40,960 blocks each, more than the pool's 4,096: their rows are drawn from it
        var shape = ModelShapes.Get("tiny") with { VocabSize = 40960, BlockCount = 1 };
        string a = _temp.File("a.gguf"), b = _temp.File("b.gguf"), c = _temp.File("c.gguf");
        new SyntheticModel(shape, SynthesisTypes.Get("q4_k_m"), seed: 3).WriteFile(a);
        new SyntheticModel(shape, SynthesisTypes.Get("q4_k_m"), seed: 3).WriteFile(b);
        new SyntheticModel(shape, SynthesisTypes.Get("q4_k_m"), seed: 4).WriteFile(c);

        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        using var gguf = GgufFile.Open(a);
        using var other = GgufFile.Open(c);
        foreach (string name in new[] { "token_embd.weight", "output.weight" })
        {
            var t = gguf.GetTensor(name);
            Assert.False(gguf.GetTensorBytes(t).SequenceEqual(other.GetTensorBytes(other.GetTensor(name))), name);
            Assert.False(gguf.GetTensorRows(t, 0, 1).SequenceEqual(gguf.GetTensorRows(t, 1, 1)), name);
            var values = Dequantize(gguf, t);
            Assert.True(values.All(v => float.IsFinite(v) && MathF.Abs(v) < 0.2f), name);
            Assert.InRange(Math.Sqrt(values.Average(v => (double)v * v)), 0.015, 0.025);
        }
        Assert.Equal(GgmlType.Q4_K, gguf.GetTensor("token_embd.weight").Type);
        Assert.Equal(GgmlType.Q6_K, gguf.GetTensor("output.weight").Type);
    }

    [Fact]
    public void Fewer_layers_drop_the_later_blocks_and_keep_the_same_weights_in_the_rest()
    {
        string full = _temp.File("full.gguf"), one = _temp.File("one.gguf");
        SyntheticModel.Create("tiny", "q8_0").WriteFile(full);
        var model = SyntheticModel.Create("tiny", "q8_0", layers: 1);
        model.WriteFile(one);

        using var a = GgufFile.Open(full);
        using var b = GgufFile.Open(one);
        Assert.Equal(1, b.GetInteger("llama.block_count"));
        Assert.Equal(a.Tensors.Count - 9, b.Tensors.Count);
        Assert.DoesNotContain(b.Tensors, t => t.Name.StartsWith("blk.1.", StringComparison.Ordinal));
        foreach (var t in b.Tensors)
            Assert.True(b.GetTensorBytes(t).SequenceEqual(a.GetTensorBytes(a.GetTensor(t.Name))), t.Name);
    }

    [Fact]
    public void Context_length_can_be_overridden()
    {
        var model = SyntheticModel.Create("llama-8b", "q4_0", layers: 1, contextLength: 262144);
        Assert.Equal(262144, model.Shape.ContextLength);
        Assert.Equal(1, model.Shape.BlockCount);
        Assert.Equal(4096, model.Shape.EmbeddingLength);
    }

    [Fact]
    public void Unknown_shape_names_the_valid_shapes()
    {
        var e = Assert.Throws<SynthesisException>(() => SyntheticModel.Create("llama-70b", "q4_0"));
        Assert.Equal("unknown shape 'llama-70b'; valid shapes: tiny, llama-1b, llama-8b, qwen2.5-0.5b, qwen3-0.6b, qwen3-30b-a3b, qwen3.6-35b-a3b, gemma4-26b-a4b, bitnet-2b", e.Message);
    }

    [Fact]
    public void Unknown_type_names_the_valid_types()
    {
        var e = Assert.Throws<SynthesisException>(() => SyntheticModel.Create("tiny", "q4_z"));
        Assert.StartsWith("unknown type 'q4_z'; valid types: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, ", e.Message);
        Assert.Contains("q4_k_m, q4_k,", e.Message);
        Assert.EndsWith("q6_k, iq4_nl, iq4_xs, tq1_0, tq2_0", e.Message);
    }

    [Theory]
    [InlineData("Q4_K", "q4_k_m")]
    [InlineData("q3_k", "q3_k_m")]
    [InlineData("q5_K", "q5_k_m")]
    [InlineData("TQ2_0", "tq2_0")]
    public void Type_names_are_case_insensitive_with_llama_quantize_aliases(string name, string canonical) =>
        Assert.Equal(canonical, SynthesisTypes.Get(name).Name);

    [Fact]
    public void Zero_layers_is_refused()
    {
        var e = Assert.Throws<SynthesisException>(() => SyntheticModel.Create("tiny", "f16", layers: 0));
        Assert.Contains("at least 1", e.Message);
    }

    [Fact]
    public void One_layer_of_llama_1b_in_q4_0_has_the_real_sizes()
    {
        var model = SyntheticModel.Create("llama-1b", "q4_0", layers: 1);
        string path = _temp.File("llama-1b-1layer-q4_0.gguf");
        model.WriteFile(path);

        using var gguf = GgufFile.Open(path);
        Assert.Equal(1, gguf.GetInteger("llama.block_count"));
        Assert.Equal(131072, gguf.GetInteger("llama.context_length"));
        Assert.Equal(500000.0, gguf.GetFloat("llama.rope.freq_base"));
        Assert.Equal(2, gguf.GetInteger("general.file_type"));
        Assert.Equal(11, gguf.Tensors.Count);
        Assert.False(gguf.TryGetTensor("output.weight", out _)); // tied to token_embd

        var embd = gguf.GetTensor("token_embd.weight"); // the tied output: Q6_K, as llama-quantize makes it
        AssertTensor(embd, GgmlType.Q6_K, [2048, 32000], 32000L * 8 * 210);
        AssertTensor(gguf.GetTensor("blk.0.attn_q.weight"), GgmlType.Q4_0, [2048, 2048], 2048L * 64 * 18);
        AssertTensor(gguf.GetTensor("blk.0.attn_k.weight"), GgmlType.Q4_0, [2048, 512], 512L * 64 * 18);
        AssertTensor(gguf.GetTensor("blk.0.ffn_gate.weight"), GgmlType.Q4_0, [2048, 8192], 8192L * 64 * 18);
        var down = gguf.GetTensor("blk.0.ffn_down.weight");
        AssertTensor(down, GgmlType.Q4_0, [8192, 2048], 2048L * 256 * 18);
        Assert.Equal(model.TensorBytes, gguf.Tensors.Sum(t => t.ByteCount));
        Assert.Equal(model.ParameterCount, gguf.Tensors.Sum(t => t.ElementCount));

        // spot check: the first and last rows of the biggest tensors hold small finite weights
        foreach (var t in new[] { embd, down })
        {
            foreach (long row in new[] { 0, t.RowCount - 1 })
            {
                var values = new float[t.RowLength];
                QuantTypes.Get(t.Type).ToFloat(gguf.GetTensorRows(t, row, 1), values);
                Assert.True(values.All(v => float.IsFinite(v) && MathF.Abs(v) < 0.2f), t.Name);
                Assert.Contains(values, v => v != 0);
            }
        }
    }

    [Fact]
    public void Bitnet_matrices_hold_ternary_weights_and_its_token_embedding_is_q6_k()
    {
        var shape = ModelShapes.Get("bitnet-2b") with { EmbeddingLength = 256, HeadCount = 4, HeadCountKv = 4, FeedForwardLength = 768, VocabSize = 1024, BlockCount = 1 };
        var model = new SyntheticModel(shape, SynthesisTypes.Get("f16"));
        string path = _temp.File("bitnet.gguf");
        model.WriteFile(path);

        using var gguf = GgufFile.Open(path);
        Assert.Equal([256], gguf.GetTensor("blk.0.attn_sub_norm.weight").Dimensions);
        Assert.Equal([768], gguf.GetTensor("blk.0.ffn_sub_norm.weight").Dimensions);
        var values = Dequantize(gguf, gguf.GetTensor("blk.0.ffn_up.weight"));
        Assert.Equal([-0.02f, 0f, 0.02f], values.Select(v => MathF.Round(v, 4)).Distinct().Order());
        Assert.InRange(values.Count(v => v == 0) / (double)values.Length, 0.3, 0.37);
        Assert.Equal(GgmlType.TQ2_0, SyntheticModel.Create("bitnet-2b", layers: 1).Tensors.First(t => t.Name == "blk.0.attn_q.weight").Type);
    }

    private static void AssertTensor(GgufTensorInfo t, GgmlType type, long[] dimensions, long bytes)
    {
        Assert.Equal(type, t.Type);
        Assert.Equal(dimensions, t.Dimensions);
        Assert.Equal(bytes, t.ByteCount);
    }

    private static float[] Dequantize(GgufFile gguf, GgufTensorInfo t)
    {
        var values = new float[t.ElementCount];
        QuantTypes.Get(t.Type).ToFloat(gguf.GetTensorBytes(t), values);
        return values;
    }
}

/// <summary>A fresh directory under the system temp path, deleted with everything in it on dispose.</summary>
internal sealed class SynthesisTempDirectory : IDisposable
{
    public SynthesisTempDirectory()
    {
        FullPath = Path.Combine(Path.GetTempPath(), "tern-synth-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(FullPath);
    }

    public string FullPath { get; }

    public string File(string name) => Path.Combine(FullPath, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(FullPath, recursive: true);
        }
        catch (IOException)
        {
            // best effort: a leftover temp directory must not fail a test
        }
    }
}
