using System.Globalization;
using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>
/// Model files whose metadata lies about the tensors, or holds values no model has (issue 11): each is refused at
/// load with a <see cref="ModelLoadException"/> naming the file, the key and its value, before any allocation sized
/// by the bad value, never an out-of-memory abort, an overflow or a negative shape.
/// </summary>
public sealed class HostileModelFileTests : IDisposable
{
    private const string Llama = "models/llama-tiny-f32.gguf";
    private const string Moe = "models/llama-moe-tiny-f32.gguf";
    private const string Gemma3 = "models/gemma3-tiny-q8_0.gguf";
    private const string Qwen3 = "models/qwen3-tiny-f32.gguf";
    private const string Qwen3Moe = "models/qwen3moe-tiny-q8_0.gguf";
    private const string Qwen35Moe = "models/qwen35moe-tiny-q8_0.gguf";
    private const string Gemma4 = "models/gemma4-tiny-q8_0.gguf";
    private const long AllocationLimit = 64L << 20; // the tiny models need well under a megabyte of managed memory

    private readonly TempDirectory _temp = new();

    [Theory]
    [InlineData(Llama, "llama.block_count", "u32:2147483647")]
    [InlineData(Llama, "llama.block_count", "u32:3")]
    [InlineData(Llama, "llama.block_count", "u32:1")]
    [InlineData(Llama, "llama.block_count", "u32:0")]
    [InlineData(Llama, "llama.block_count", "str:two")]
    [InlineData(Llama, "general.architecture", "u32:7")]
    [InlineData(Llama, "llama.rope.freq_base", "f32:NaN")]
    [InlineData(Llama, "llama.rope.freq_base", "f32:-10000")]
    [InlineData(Llama, "llama.rope.freq_base", "f32:0")]
    [InlineData(Llama, "llama.rope.freq_base", "f32:Infinity")]
    [InlineData(Llama, "llama.rope.freq_base", "f64:1e300")]
    [InlineData(Llama, "llama.rope.freq_base", "u32:10000")]
    [InlineData(Llama, "llama.attention.key_length", "u32:2147483647")]
    [InlineData(Llama, "llama.attention.key_length", "u32:32")]
    [InlineData(Llama, "llama.attention.value_length", "u32:32")]
    [InlineData(Llama, "llama.attention.head_count", "u32:0")]
    [InlineData(Llama, "llama.attention.head_count", "u32:3")]
    [InlineData(Llama, "llama.attention.head_count_kv", "u32:3")]
    [InlineData(Llama, "llama.attention.head_count_kv", "u32:0")]
    [InlineData(Llama, "llama.attention.head_count_kv", "u32:1")]
    [InlineData(Llama, "llama.embedding_length", "u32:128")]
    [InlineData(Llama, "llama.embedding_length", "f32:256")]
    [InlineData(Llama, "llama.feed_forward_length", "u32:512")]
    [InlineData(Llama, "llama.context_length", "u64:1099511627776")]
    [InlineData(Llama, "llama.context_length", "i32:-1")]
    [InlineData(Llama, "llama.context_length", "u32:0")]
    [InlineData(Llama, "llama.rope.dimension_count", "u32:0")]
    [InlineData(Llama, "llama.rope.dimension_count", "u32:2147483647")]
    [InlineData(Llama, "llama.vocab_size", "u32:4096")]
    [InlineData(Llama, "llama.attention.layer_norm_rms_epsilon", "f32:NaN")]
    [InlineData(Llama, "llama.attention.layer_norm_rms_epsilon", "f32:-1E-05")]
    [InlineData(Llama, "llama.attention.layer_norm_rms_epsilon", "f32:0")]
    [InlineData(Llama, "llama.attention.layer_norm_rms_epsilon", "f32:2")]
    [InlineData(Llama, "llama.expert_used_count", "u32:2")]
    [InlineData(Moe, "llama.expert_used_count", "u32:5")]
    [InlineData(Moe, "llama.expert_used_count", "u32:0")]
    [InlineData(Moe, "llama.expert_count", "u32:2147483647")]
    [InlineData(Moe, "llama.expert_count", "u32:8")]
    [InlineData(Qwen3, "qwen3.attention.key_length", "u32:32")]
    [InlineData(Qwen3, "qwen3.attention.key_length", "u32:128")]
    [InlineData(Qwen3Moe, "qwen3moe.expert_feed_forward_length", "u32:512")]
    [InlineData(Qwen3Moe, "qwen3moe.expert_feed_forward_length", "u32:0")]
    [InlineData(Qwen3Moe, "qwen3moe.expert_count", "u32:0")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.conv_kernel", "u32:3")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.conv_kernel", "u32:1")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.state_size", "u32:16")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.state_size", "u32:2147483647")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.group_count", "u32:3")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.group_count", "u32:0")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.time_step_rank", "u32:8")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.inner_size", "u32:130")]
    [InlineData(Qwen35Moe, "qwen35moe.ssm.inner_size", "f32:128")]
    [InlineData(Qwen35Moe, "qwen35moe.full_attention_interval", "u32:0")]
    [InlineData(Qwen35Moe, "qwen35moe.full_attention_interval", "u32:5")]
    [InlineData(Qwen35Moe, "qwen35moe.expert_shared_feed_forward_length", "u32:64")]
    [InlineData(Llama, "tokenizer.ggml.bos_token_id", "u32:5000")]
    [InlineData(Llama, "tokenizer.ggml.eos_token_id", "i32:-2")]
    [InlineData(Gemma3, "gemma3.attention.sliding_window", "u32:0")]
    [InlineData(Gemma3, "gemma3.attention.sliding_window", "f32:32")]
    [InlineData(Gemma3, "gemma3.attention.sliding_window", "u64:1099511627776")]
    [InlineData(Gemma3, "gemma3.attention.sliding_window_pattern", "u32:0")]
    [InlineData(Gemma3, "gemma3.attention.sliding_window_pattern", "str:six")]
    [InlineData(Gemma3, "gemma3.rope.freq_base_swa", "f32:NaN")]
    [InlineData(Gemma3, "gemma3.rope.freq_base_swa", "f32:0")]
    [InlineData(Gemma3, "gemma3.attention.value_length", "u32:32")]
    [InlineData(Gemma4, "gemma4.attention.head_count_kv", "i32[]:2,2,2,2,2")]
    [InlineData(Gemma4, "gemma4.attention.head_count_kv", "i32[]:2,2,2,2,2,3")]
    [InlineData(Gemma4, "gemma4.attention.head_count_kv", "i32[]:2,2,2,2,2,0")]
    [InlineData(Gemma4, "gemma4.attention.head_count_kv", "f32[]:2,2,2,2,2,1")]
    [InlineData(Gemma4, "gemma4.attention.head_count_kv", "u32:4")]
    [InlineData(Gemma4, "gemma4.attention.head_count_kv", "str:two")]
    [InlineData(Gemma4, "gemma4.attention.sliding_window_pattern", "u32:5")]
    [InlineData(Gemma4, "gemma4.attention.sliding_window_pattern", "bool[]:1,1,1,1,1")]
    [InlineData(Gemma4, "gemma4.attention.sliding_window_pattern", "i32[]:1,1,1,1,1,0")]
    [InlineData(Gemma4, "gemma4.attention.key_length_swa", "u32:32")]
    [InlineData(Gemma4, "gemma4.attention.key_length_swa", "u32:2147483647")]
    [InlineData(Gemma4, "gemma4.attention.value_length_swa", "u32:32")]
    [InlineData(Gemma4, "gemma4.rope.dimension_count_swa", "u32:128")]
    [InlineData(Gemma4, "gemma4.rope.dimension_count_swa", "u32:63")]
    [InlineData(Gemma4, "gemma4.rope.freq_base_swa", "f32:NaN")]
    [InlineData(Gemma4, "gemma4.expert_feed_forward_length", "u32:64")]
    [InlineData(Gemma4, "gemma4.expert_count", "u32:4")]
    [InlineData(Gemma4, "gemma4.final_logit_softcapping", "f32:0")]
    [InlineData(Gemma4, "gemma4.final_logit_softcapping", "f32:NaN")]
    [InlineData(Gemma4, "gemma4.embedding_length_per_layer_input", "u32:256")]
    [InlineData(Gemma4, "gemma4.attention.shared_kv_layers", "u32:2")]
    public void A_bad_hyperparameter_is_refused_naming_key_and_value(string model, string key, string value)
    {
        var stored = Value(value);
        string path = ModelFiles.Rewrite(SharedData.Path(model), _temp.File("bad.gguf"), new Dictionary<string, GgufValue> { [key] = stored });

        var e = LoadFails(path);

        string shown = stored.Value switch { GgufArray a => $"[{a.Count} items]", string => $"\"{stored}\"", _ => stored.ToString() };
        Assert.Contains($"{key} = {shown}:", e.Message);
    }

    [Fact]
    public void A_vocabulary_shorter_than_the_embedding_table_is_refused()
    {
        string source = SharedData.Path(Llama);
        string[] tokens;
        using (var file = GgufFile.Open(source))
            tokens = file.GetStringArray("tokenizer.ggml.tokens")!;
        string path = ModelFiles.Rewrite(source, _temp.File("vocab.gguf"), new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.tokens"] = GgufValue.From(new GgufArray(GgufValueType.String, tokens[..1000])),
        });

        var e = LoadFails(path);

        Assert.Contains("tokenizer.ggml.tokens", e.Message);
        Assert.Contains("1000 tokens", e.Message);
        Assert.Contains("1024", e.Message);
    }

    [Fact]
    public void Tensors_of_a_block_past_block_count_are_refused()
    {
        // blk.0 renamed to blk.2: the file holds tensors of a third block that block_count 2 does not run
        string path = ModelFiles.Rewrite(SharedData.Path(Llama), _temp.File("gap.gguf"),
            tensor: t => (t.Name.StartsWith("blk.0.", StringComparison.Ordinal) ? "blk.2." + t.Name[6..] : t.Name, t.Dimensions));

        var e = LoadFails(path);

        Assert.Contains("llama.block_count = 2", e.Message);
    }

    [Theory]
    [InlineData(Qwen3, "blk.1.attn_k_norm.weight")]
    [InlineData(Qwen3Moe, "blk.0.attn_q_norm.weight")]
    public void A_qwen3_block_without_its_query_or_key_head_norm_is_refused(string model, string dropped)
    {
        string path = ModelFiles.Rewrite(SharedData.Path(model), _temp.File("no-norm.gguf"), tensor: t => t.Name == dropped ? null : (t.Name, t.Dimensions));

        var e = LoadFails(path);

        Assert.Contains(dropped, e.Message);
    }

    [Theory]
    [InlineData(Qwen35Moe, "blk.1.ssm_conv1d.weight")]
    [InlineData(Qwen35Moe, "blk.2.ssm_a")]
    [InlineData(Qwen35Moe, "blk.3.attn_q_norm.weight")]
    [InlineData(Qwen35Moe, "blk.0.ffn_gate_inp_shexp.weight")]
    public void A_qwen35moe_layer_without_one_of_its_tensors_is_refused(string model, string dropped)
    {
        string path = ModelFiles.Rewrite(SharedData.Path(model), _temp.File("no-tensor.gguf"), tensor: t => t.Name == dropped ? null : (t.Name, t.Dimensions));

        var e = LoadFails(path);

        Assert.Contains(dropped, e.Message);
    }

    [Fact]
    public void The_unchanged_models_still_load()
    {
        foreach (var model in new[] { Llama, Moe, Qwen3, Qwen3Moe, Qwen35Moe, Gemma4, "models/gemma4-tiny-q4_k_m.gguf", "models/qwen2-tiny-q8_0.gguf", "models/bitnet-tiny-tq2_0.gguf", "models/stories260K.gguf", "models/llama-2-tiny-random.gguf" })
        {
            using var loaded = DecoderModel.Load(SharedData.Path(model));
            Assert.True(loaded.Config.BlockCount > 0);
        }
    }

    /// <summary>Loads the file expecting a refusal that names it, checking that loading allocated little.</summary>
    private static ModelLoadException LoadFails(string path)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(path, e.Message);
        Assert.True(allocated < AllocationLimit, $"loading allocated {allocated} bytes before refusing: {e.Message}");
        return e;
    }

    /// <summary>A metadata value written as "type:text" (u32, u64, i32, f32, f64, str), or an array as
    /// "type[]:a,b,c" (i32, f32, bool as 1/0).</summary>
    private static GgufValue Value(string typed)
    {
        var (type, text) = (typed[..typed.IndexOf(':')], typed[(typed.IndexOf(':') + 1)..]);
        var c = CultureInfo.InvariantCulture;
        string[] items = text.Split(',');
        if (type.EndsWith("[]", StringComparison.Ordinal))
        {
            return GgufValue.From(type switch
            {
                "i32[]" => new GgufArray(GgufValueType.Int32, items.Select(i => int.Parse(i, c)).ToArray()),
                "f32[]" => new GgufArray(GgufValueType.Float32, items.Select(i => float.Parse(i, c)).ToArray()),
                "bool[]" => new GgufArray(GgufValueType.Bool, items.Select(i => i == "1").ToArray()),
                _ => throw new ArgumentException($"unknown array type '{type}'", nameof(typed)),
            });
        }

        return type switch
        {
            "u32" => GgufValue.From(uint.Parse(text, c)),
            "u64" => GgufValue.From(ulong.Parse(text, c)),
            "i32" => GgufValue.From(int.Parse(text, c)),
            "f32" => GgufValue.From(float.Parse(text, c)),
            "f64" => GgufValue.From(double.Parse(text, c)),
            "str" => GgufValue.From(text),
            _ => throw new ArgumentException($"unknown value type '{type}'", nameof(typed)),
        };
    }

    public void Dispose() => _temp.Dispose();
}
