using Tern.Gguf;
using Tern.Testing;

namespace Tern.Kernels.Tests;

/// <summary>
/// The quantizers against llama-quantize itself: the shared quantized models were made by llama-quantize (no imatrix,
/// so ggml's reference quantizers) from the F32 model, so quantizing the F32 rows must give the same bytes.
/// </summary>
public class QuantLlamaQuantizeTests
{
    public static TheoryData<string, string, string> Cases() => new()
    {
        { "F16", "models/llama-tiny-f16.gguf", "output.weight" },
        { "BF16", "models/llama-tiny-bf16.gguf", "output.weight" },
        { "Q8_0", "models/llama-tiny-q8_0.gguf", "output.weight" },
        { "Q4_0", "models/llama-tiny-q4_0.gguf", "token_embd.weight" },
        { "Q4_1", "models/llama-tiny-q4_1.gguf", "token_embd.weight" },
        { "Q5_0", "models/llama-tiny-q5_0.gguf", "token_embd.weight" },
        { "Q5_1", "models/llama-tiny-q5_1.gguf", "token_embd.weight" },
        { "Q2_K", "models/llama-tiny-q2_k.gguf", "token_embd.weight" },
        { "Q3_K", "models/llama-tiny-q2_k.gguf", "blk.0.attn_output.weight" },
        { "Q4_K", "models/llama-tiny-q3_k_m.gguf", "blk.0.attn_output.weight" },
        { "Q5_K", "models/llama-tiny-q3_k_m.gguf", "blk.0.attn_v.weight" },
        { "Q6_K", "models/llama-tiny-q2_k.gguf", "output.weight" },
        { "TQ1_0", "models/llama-tiny-tq1_0.gguf", "blk.0.attn_k.weight" },
        { "TQ2_0", "models/llama-tiny-tq2_0.gguf", "blk.0.attn_k.weight" },
        { "IQ4_NL", "models/llama-tiny-iq4_nl.gguf", "token_embd.weight" },
        { "IQ4_XS", "models/llama-tiny-iq4_xs.gguf", "token_embd.weight" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Quantize_reproduces_llama_quantize_bytes(string typeName, string model, string tensorName)
    {
        var type = Enum.Parse<GgmlType>(typeName);
        var quant = QuantTypes.Get(type);

        using var source = GgufFile.Open(SharedData.Path("models/llama-tiny-f32.gguf"));
        using var quantized = GgufFile.Open(SharedData.Path(model));
        var src = source.GetTensor(tensorName);
        var dst = quantized.GetTensor(tensorName);
        Assert.Equal(GgmlType.F32, src.Type);
        Assert.Equal(type, dst.Type);

        int rows = (int)dst.RowCount;
        int n = (int)src.RowLength;
        var input = new float[rows * n];
        F32Rows(source.GetTensorRows(src, 0, rows), input);
        var ours = new byte[rows * dst.RowBytes];
        quant.FromFloat!(input, ours);

        var theirs = quantized.GetTensorRows(dst, 0, rows);
        int blocks = ours.Length / quant.BytesPerBlock, differing = 0, first = -1;
        for (int b = 0; b < blocks; b++)
        {
            if (!theirs.Slice(b * quant.BytesPerBlock, quant.BytesPerBlock).SequenceEqual(ours.AsSpan(b * quant.BytesPerBlock, quant.BytesPerBlock)))
            {
                differing++;
                if (first < 0) first = b;
            }
        }

        Assert.True(differing == 0, $"{type}: {differing} of {blocks} blocks differ from llama-quantize (first: block {first})");
    }

    public static TheoryData<string, string> Models() => new()
    {
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-q2_k.gguf" },
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-q3_k_m.gguf" },
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-q4_k_m.gguf" },
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-q5_k_m.gguf" },
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-q6_k.gguf" },
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-q4_1.gguf" },
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-q5_1.gguf" },
        { "models/bitnet-tiny-f32.gguf", "models/bitnet-tiny-tq1_0.gguf" },
        { "models/bitnet-tiny-f32.gguf", "models/bitnet-tiny-tq2_0.gguf" },
        { "models/llama-moe-tiny-f32.gguf", "models/llama-moe-tiny-q4_k_m.gguf" },
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-iq4_nl.gguf" },
        { "models/llama-tiny-f32.gguf", "models/llama-tiny-iq4_xs.gguf" },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Quantize_reproduces_every_quantized_tensor_of_a_model(string sourceModel, string model)
    {
        using var source = GgufFile.Open(SharedData.Path(sourceModel));
        using var quantized = GgufFile.Open(SharedData.Path(model));
        var report = new List<string>();
        int compared = 0;
        foreach (var dst in quantized.Tensors)
        {
            if (dst.Type == GgmlType.F32)
            {
                continue;
            }

            var src = source.GetTensor(dst.Name);
            var quant = QuantTypes.Get(dst.Type);
            var input = new float[src.ElementCount];
            F32Rows(source.GetTensorBytes(src), input);
            var ours = new byte[dst.ByteCount];
            quant.FromFloat!(input, ours);
            var theirs = quantized.GetTensorBytes(dst);
            int differing = 0;
            for (int b = 0; b < ours.Length / quant.BytesPerBlock; b++)
            {
                if (!theirs.Slice(b * quant.BytesPerBlock, quant.BytesPerBlock).SequenceEqual(ours.AsSpan(b * quant.BytesPerBlock, quant.BytesPerBlock))) differing++;
            }

            if (differing > 0) report.Add($"{dst.Name} ({dst.Type}): {differing} of {ours.Length / quant.BytesPerBlock} blocks differ");
            compared++;
        }

        Assert.True(compared > 0);
        Assert.True(report.Count == 0, string.Join("\n", report));
    }

    private static void F32Rows(ReadOnlySpan<byte> bytes, Span<float> output) => QuantTypes.Get(GgmlType.F32).ToFloat(bytes, output);
}
