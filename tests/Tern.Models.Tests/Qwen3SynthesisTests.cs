using Tern.Gguf;
using Tern.Models.Synthesis;

namespace Tern.Models.Tests;

/// <summary>`tern synth` shapes qwen3-0.6b and qwen3-30b-a3b: the published configs' sizes, per-head Q/K norms,
/// a head size of 128 apart from n_embd, 128 experts of 768; the files load as qwen3 / qwen3moe and run.</summary>
public sealed class Qwen3SynthesisTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Qwen3_0_6b_has_the_published_shape()
    {
        var model = SyntheticModel.Create("qwen3-0.6b", "q4_0", layers: 2);
        var meta = model.CreateMetadata().ToDictionary(kv => kv.Key, kv => kv.Value.ToString());

        Assert.Equal("qwen3", meta["general.architecture"]);
        Assert.Equal(("1024", "2", "16", "8", "3072"), (meta["qwen3.embedding_length"], meta["qwen3.block_count"], meta["qwen3.attention.head_count"], meta["qwen3.attention.head_count_kv"], meta["qwen3.feed_forward_length"]));
        Assert.Equal(("128", "128", "128"), (meta["qwen3.attention.key_length"], meta["qwen3.attention.value_length"], meta["qwen3.rope.dimension_count"]));
        Assert.Equal(("40960", "151936", "1000000"), (meta["qwen3.context_length"], meta["qwen3.vocab_size"], meta["qwen3.rope.freq_base"]));
        Assert.Equal([1024, 2048], Tensor(model, "blk.0.attn_q.weight").Dimensions);   // 16 heads × 128, wider than n_embd
        Assert.Equal([1024, 1024], Tensor(model, "blk.0.attn_k.weight").Dimensions);   // 8 KV heads × 128
        Assert.Equal([2048, 1024], Tensor(model, "blk.1.attn_output.weight").Dimensions);
        Assert.Equal([128], Tensor(model, "blk.1.attn_q_norm.weight").Dimensions);
        Assert.Equal([128], Tensor(model, "blk.1.attn_k_norm.weight").Dimensions);
        Assert.DoesNotContain(model.Tensors, t => t.Name == "output.weight");          // tied embeddings
        Assert.Equal(2 + 2 * 11, model.Tensors.Count);
    }

    [Fact]
    public void Qwen3_30b_a3b_has_the_published_shape_and_one_layer_in_q2_k_stays_small()
    {
        var model = SyntheticModel.Create("qwen3-30b-a3b", "q2_k", layers: 1);
        var meta = model.CreateMetadata().ToDictionary(kv => kv.Key, kv => kv.Value.ToString());

        Assert.Equal("qwen3moe", meta["general.architecture"]);
        Assert.Equal(("2048", "1", "32", "4", "128"), (meta["qwen3moe.embedding_length"], meta["qwen3moe.block_count"], meta["qwen3moe.attention.head_count"], meta["qwen3moe.attention.head_count_kv"], meta["qwen3moe.attention.key_length"]));
        Assert.Equal(("128", "8", "768"), (meta["qwen3moe.expert_count"], meta["qwen3moe.expert_used_count"], meta["qwen3moe.expert_feed_forward_length"]));
        Assert.Equal([2048, 4096], Tensor(model, "blk.0.attn_q.weight").Dimensions);
        Assert.Equal([2048, 512], Tensor(model, "blk.0.attn_k.weight").Dimensions);
        var router = Tensor(model, "blk.0.ffn_gate_inp.weight");
        Assert.Equal([2048, 128], router.Dimensions);
        Assert.Equal(GgmlType.F32, router.Type); // llama-quantize never quantizes the router
        Assert.Equal([2048, 768, 128], Tensor(model, "blk.0.ffn_gate_exps.weight").Dimensions);
        Assert.Equal([2048, 768, 128], Tensor(model, "blk.0.ffn_up_exps.weight").Dimensions);
        var down = Tensor(model, "blk.0.ffn_down_exps.weight");
        Assert.Equal([768, 2048, 128], down.Dimensions);
        Assert.Equal(2048L * 128, down.RowCount);
        Assert.Equal(GgmlTypeSizes.RowBytes(down.Type, 768) * 2048 * 128, down.ByteCount);
        Assert.DoesNotContain(model.Tensors, t => t.Name.Contains("ffn_gate.weight", StringComparison.Ordinal));
        Assert.Contains(model.Tensors, t => t.Name == "output.weight");                // not tied
        Assert.InRange(model.TensorBytes, 300L << 20, 600L << 20);                       // 128 experts and two 151936-row matrices
    }

    [Fact]
    public void Qwen3_0_6b_with_fewer_layers_loads_as_qwen3_and_runs()
    {
        // the real shape but a small vocabulary, so the file stays a few MB
        var shape = ModelShapes.Get("qwen3-0.6b") with { BlockCount = 2, VocabSize = 2048 };
        using var model = Write(new SyntheticModel(shape, SynthesisTypes.Get("q4_0")));

        Assert.IsType<Qwen3>(model);
        Assert.Equal((128, 2048, 16, 8), (model.Config.HeadDim, model.Config.QDim, model.Config.HeadCount, model.Config.HeadCountKv));
        AssertForwardPassRuns(model);
    }

    [Fact]
    public void Qwen3_30b_a3b_with_one_layer_loads_as_qwen3moe_and_runs()
    {
        // every expert of the real layer (128 × 768 × 2048, Q2_K/Q3_K), a small vocabulary
        var shape = ModelShapes.Get("qwen3-30b-a3b") with { BlockCount = 1, VocabSize = 2048 };
        var synthetic = new SyntheticModel(shape, SynthesisTypes.Get("q2_k"));
        Assert.InRange(synthetic.TensorBytes, 150L << 20, 300L << 20);
        using var model = Write(synthetic);

        Assert.IsType<Qwen3Moe>(model);
        Assert.Equal((128, 8, 768, 128), (model.Config.ExpertCount, model.Config.ExpertUsedCount, model.Config.ExpertFeedForwardLength, model.Config.HeadDim));
        AssertForwardPassRuns(model);
    }

    [Theory]
    [InlineData(129, 768, 128)]
    [InlineData(0, 768, 128)]
    [InlineData(8, 0, 128)]
    [InlineData(8, 768, 0)]
    public void A_shape_with_impossible_experts_or_head_size_is_refused(int used, int expertWidth, int headSize)
    {
        var shape = ModelShapes.Get("qwen3-30b-a3b") with { ExpertUsedCount = used, ExpertFeedForwardLength = expertWidth, KeyLength = headSize };
        var e = Assert.Throws<SynthesisException>(() => new SyntheticModel(shape, SynthesisTypes.Get("q4_0")));
        Assert.Contains("shape qwen3-30b-a3b: head size and expert counts must be positive", e.Message);
    }

    private DecoderModel Write(SyntheticModel synthetic)
    {
        string path = _temp.File($"{synthetic.Shape.Name}.gguf");
        synthetic.WriteFile(path);
        return DecoderModel.Load(path, new ModelOptions { Threads = 2 });
    }

    private static void AssertForwardPassRuns(DecoderModel model)
    {
        int vocab = model.Config.VocabSize;
        using var cache = model.CreateState(64);
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        int[] tokens = [1, 200, 3000 % vocab, 42, 7];
        for (int i = 0; i < tokens.Length; i++)
            batch.Add(tokens[i], i, sequence, logits: true);
        var logits = new float[tokens.Length * vocab];

        model.Forward(batch, cache, logits);

        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        for (int i = 0; i < tokens.Length; i++)
        {
            var row = logits.AsSpan(i * vocab, vocab);
            Assert.True(row.ToArray().Max() > row.ToArray().Min(), $"token {i}: every logit equal");
        }
        Assert.False(logits.AsSpan(0, vocab).SequenceEqual(logits.AsSpan(vocab, vocab)), "positions 0 and 1 gave the same logits");
    }

    private static SyntheticTensor Tensor(SyntheticModel model, string name) => model.Tensors.Single(t => t.Name == name);
}
