using Tern.Gguf;
using Tern.Models.Synthesis;

namespace Tern.Models.Tests;

/// <summary>`tern synth --shape qwen3.6-35b-a3b`: the published Qwen3.6-35B-A3B config, one attention layer in four
/// kept with --layers, written in llama.cpp's qwen35moe layout; the file loads as <see cref="Qwen35Moe"/> and runs.</summary>
public sealed class HybridSynthesisTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Qwen3_6_35b_a3b_has_the_published_shape_and_keeps_one_attention_layer_in_four()
    {
        var model = SyntheticModel.Create("qwen3.6-35b-a3b", "q4_k_m", layers: 8);
        var meta = model.CreateMetadata().ToDictionary(kv => kv.Key, kv => kv.Value.ToString());

        Assert.Equal("qwen35moe", meta["general.architecture"]);
        Assert.Equal(("2048", "8", "16", "2", "256", "64"), (meta["qwen35moe.embedding_length"], meta["qwen35moe.block_count"], meta["qwen35moe.attention.head_count"],
            meta["qwen35moe.attention.head_count_kv"], meta["qwen35moe.attention.key_length"], meta["qwen35moe.rope.dimension_count"]));
        Assert.Equal(("4", "4", "128", "16", "32", "4096"), (meta["qwen35moe.full_attention_interval"], meta["qwen35moe.ssm.conv_kernel"], meta["qwen35moe.ssm.state_size"],
            meta["qwen35moe.ssm.group_count"], meta["qwen35moe.ssm.time_step_rank"], meta["qwen35moe.ssm.inner_size"]));
        Assert.Equal(("256", "8", "512", "512"), (meta["qwen35moe.expert_count"], meta["qwen35moe.expert_used_count"], meta["qwen35moe.expert_feed_forward_length"], meta["qwen35moe.expert_shared_feed_forward_length"]));
        Assert.Equal(["blk.3.attn_q.weight", "blk.7.attn_q.weight"], model.Tensors.Where(t => t.Name.EndsWith("attn_q.weight", StringComparison.Ordinal)).Select(t => t.Name));
        Assert.Equal(6, model.Tensors.Count(t => t.Name.EndsWith("ssm_conv1d.weight", StringComparison.Ordinal)));
        Assert.Equal([2048, 2 * 16 * 128 + 4096], Tensor(model, "blk.0.attn_qkv.weight").Dimensions);
        Assert.Equal([4, 8192], Tensor(model, "blk.0.ssm_conv1d.weight").Dimensions);
        Assert.Equal(GgmlType.F32, Tensor(model, "blk.0.ssm_a").Type);
        Assert.Equal([2048, 2 * 16 * 256], Tensor(model, "blk.3.attn_q.weight").Dimensions); // a query and a gate per head
        Assert.Equal([2048, 512, 256], Tensor(model, "blk.3.ffn_up_exps.weight").Dimensions);
        Assert.Equal([2048], Tensor(model, "blk.3.ffn_gate_inp_shexp.weight").Dimensions);
    }

    [Fact]
    public void A_small_qwen3_6_loads_as_qwen35moe_and_its_state_decays()
    {
        // the real layer mix and head shapes, fewer experts and a small vocabulary so the file stays small
        var shape = ModelShapes.Get("qwen3.6-35b-a3b") with { BlockCount = 4, VocabSize = 2048, ExpertCount = 8, ExpertUsedCount = 2 };
        var synthetic = new SyntheticModel(shape, SynthesisTypes.Get("q4_0"));
        string path = _temp.File("q36.gguf");
        synthetic.WriteFile(path);
        using var model = Assert.IsType<Qwen35Moe>(DecoderModel.Load(path, new ModelOptions { Threads = 2 }));
        Assert.Equal([true, true, true, false], model.Config.Layers.Select(l => l.DeltaNet is not null));

        // 300 tokens: negative decay rates keep the recurrent state bounded, so the logits stay finite.
        int vocab = model.Config.VocabSize;
        using var cache = model.CreateState(512);
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        var random = new Random(5);
        for (int i = 0; i < 300; i++)
            batch.Add(random.Next(vocab), i, sequence, logits: i == 299);
        var logits = new float[vocab];
        model.Forward(batch, cache, logits);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.True(logits.Max() > logits.Min());
    }

    [Fact]
    public void Gemma4_26b_a4b_has_the_published_shape_with_its_own_sliding_and_global_layers()
    {
        var model = SyntheticModel.Create("gemma4-26b-a4b", "q4_k_m", layers: 6);
        var meta = model.CreateMetadata().ToDictionary(kv => kv.Key, kv => kv.Value);

        Assert.Equal("gemma4", meta["general.architecture"].ToString());
        Assert.Equal([8, 8, 8, 8, 8, 2], ((GgufArray)meta["gemma4.attention.head_count_kv"].Value).Items.Cast<int>());
        Assert.Equal([true, true, true, true, true, false], ((GgufArray)meta["gemma4.attention.sliding_window_pattern"].Value).Items.Cast<bool>());
        Assert.Equal(("512", "256", "1024", "10000", "30"), (meta["gemma4.attention.key_length"].ToString(), meta["gemma4.attention.key_length_swa"].ToString(),
            meta["gemma4.attention.sliding_window"].ToString(), meta["gemma4.rope.freq_base_swa"].ToString(), meta["gemma4.final_logit_softcapping"].ToString()));
        Assert.Equal([2816, 16 * 256], Tensor(model, "blk.0.attn_q.weight").Dimensions);
        Assert.Equal([2816, 16 * 512], Tensor(model, "blk.5.attn_q.weight").Dimensions);
        Assert.Contains(model.Tensors, t => t.Name == "blk.0.attn_v.weight");
        Assert.DoesNotContain(model.Tensors, t => t.Name == "blk.5.attn_v.weight");          // global layers: values from keys
        Assert.Equal([2816, 2 * 704, 128], Tensor(model, "blk.3.ffn_gate_up_exps.weight").Dimensions);
        Assert.Equal([2816, 2112], Tensor(model, "blk.3.ffn_up.weight").Dimensions);
        Assert.Equal([256], Tensor(model, "rope_freqs.weight").Dimensions);
        Assert.DoesNotContain(model.Tensors, t => t.Name == "output.weight");                // tied
    }

    [Fact]
    public void A_small_gemma4_loads_and_runs_with_its_quarter_rotated_global_layer()
    {
        var shape = ModelShapes.Get("gemma4-26b-a4b") with { BlockCount = 6, VocabSize = 2048, ExpertCount = 4, ExpertUsedCount = 2 };
        var synthetic = new SyntheticModel(shape, SynthesisTypes.Get("q8_0"));
        string path = _temp.File("g4.gguf");
        synthetic.WriteFile(path);
        using var model = Assert.IsType<Gemma4>(DecoderModel.Load(path, new ModelOptions { Threads = 2 }));
        var global = model.Config.Layers[5].Attention!;
        Assert.Equal((2, 512, 0), (global.KvHeads, global.HeadDim, global.Window));
        Assert.Equal(64, global.Rope.FreqFactors!.Count(f => f == 1f));

        int vocab = model.Config.VocabSize;
        using var cache = model.CreateState(256);
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        for (int i = 0; i < 100; i++)
            batch.Add((i * 37) % vocab, i, sequence, logits: i == 99);
        var logits = new float[vocab];
        model.Forward(batch, cache, logits);
        Assert.All(logits, v => Assert.True(float.IsFinite(v) && Math.Abs(v) <= 30f));      // soft-capped at 30
        Assert.True(logits.Max() > logits.Min());
    }

    private static SyntheticTensor Tensor(SyntheticModel model, string name) => model.Tensors.Single(t => t.Name == name);
}
