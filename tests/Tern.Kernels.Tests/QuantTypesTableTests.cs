using Tern.Gguf;

namespace Tern.Kernels.Tests;

/// <summary>The QuantTypes table agrees with the file format and with llama.cpp's weight/activation pairing.</summary>
public class QuantTypesTableTests
{
    // ggml-cpu's type_traits_cpu vec_dot_type for every type Tern can compute with.
    private static readonly Dictionary<GgmlType, GgmlType> LlamaCppActivation = new()
    {
        [GgmlType.F32] = GgmlType.F32,
        [GgmlType.F16] = GgmlType.F16,
        [GgmlType.BF16] = GgmlType.BF16,
        [GgmlType.Q4_0] = GgmlType.Q8_0,
        [GgmlType.Q4_1] = GgmlType.Q8_1,
        [GgmlType.Q5_0] = GgmlType.Q8_0,
        [GgmlType.Q5_1] = GgmlType.Q8_1,
        [GgmlType.Q8_0] = GgmlType.Q8_0,
        [GgmlType.Q2_K] = GgmlType.Q8_K,
        [GgmlType.Q3_K] = GgmlType.Q8_K,
        [GgmlType.Q4_K] = GgmlType.Q8_K,
        [GgmlType.Q5_K] = GgmlType.Q8_K,
        [GgmlType.Q6_K] = GgmlType.Q8_K,
        [GgmlType.IQ4_NL] = GgmlType.Q8_0,
        [GgmlType.IQ4_XS] = GgmlType.Q8_K,
        [GgmlType.TQ1_0] = GgmlType.Q8_K,
        [GgmlType.TQ2_0] = GgmlType.Q8_K,
        [GgmlType.MXFP4] = GgmlType.Q8_0,
    };

    [Fact]
    public void Table_has_one_row_per_supported_type()
    {
        var types = QuantTypes.All.Select(r => r.Type).ToList();
        Assert.Equal(types.Count, types.Distinct().Count());
        Assert.Equal(LlamaCppActivation.Keys.Append(GgmlType.Q8_1).Append(GgmlType.Q8_K).Order(), types.Order());
        Assert.All(types, t => Assert.Same(QuantTypes.All.Single(r => r.Type == t), QuantTypes.Get(t)));
    }

    [Fact]
    public void Block_sizes_and_bytes_agree_with_the_gguf_type_sizes()
    {
        Assert.All(QuantTypes.All, row =>
        {
            var size = GgmlTypeSizes.Get(row.Type);
            Assert.Equal(size.BlockSize, row.BlockSize);
            Assert.Equal(size.BytesPerBlock, row.BytesPerBlock);
        });
    }

    [Fact]
    public void Dot_capable_types_pair_with_llama_cpp_activation_types_that_can_be_quantized()
    {
        foreach (var row in QuantTypes.All.Where(r => r.Dot is not null))
        {
            Assert.NotNull(row.DotScalar);
            Assert.Equal(LlamaCppActivation[row.Type], row.DotActivation);
            var activation = QuantTypes.Get(row.DotActivation);
            Assert.NotNull(activation.FromFloat);
            Assert.Equal(row.BlockSize, activation.BlockSize); // a weight block meets exactly one activation block
        }
    }

    [Fact]
    public void Only_the_activation_types_Q8_1_and_Q8_K_have_no_dot_product()
    {
        var dotless = QuantTypes.All.Where(r => r.Dot is null || r.DotScalar is null).Select(r => r.Type).Order();
        Assert.Equal([GgmlType.Q8_1, GgmlType.Q8_K], dotless);
    }

    [Fact]
    public void Every_row_can_dequantize_and_quantize()
    {
        Assert.All(QuantTypes.All, row =>
        {
            Assert.NotNull(row.ToFloat);
            Assert.NotNull(row.FromFloat);
        });
    }

    [Fact]
    public void Unsupported_types_are_reported_by_name()
    {
        Assert.False(QuantTypes.IsSupported(GgmlType.IQ2_XXS));
        var e = Assert.Throws<NotSupportedException>(() => QuantTypes.Get(GgmlType.IQ2_XXS));
        Assert.Contains("IQ2_XXS", e.Message);
    }

    [Fact]
    public void Row_bytes_scale_with_whole_blocks()
    {
        Assert.Equal(8 * 144, QuantTypes.Get(GgmlType.Q4_K).RowBytes(8 * 256));
        Assert.Equal(4096 * 2, QuantTypes.Get(GgmlType.F16).RowBytes(4096));
    }
}
